//! Which certificate authorities fastmusl trusts over HTTPS: Mozilla's
//! roots, built in (webpki-roots, as ureq's own default), plus the
//! certificates of `SSL_CERT_FILE` (the variable OpenSSL-based tools read,
//! which hosts behind a private CA already set) and of any `--registry-ca`
//! file. Added, never instead: a file holding only the private CA keeps
//! public registries and the public dist server working.

use std::{path::PathBuf, sync::Arc};

use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, pem::PemObject};

pub const SSL_CERT_FILE_ENV: &str = "SSL_CERT_FILE";

/// Where extra trusted certificates come from: each file, and what named it
/// (for messages: `SSL_CERT_FILE`, `--registry-ca`).
fn extra_ca_files(registry_ca: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = std::env::var_os(SSL_CERT_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(|v| (PathBuf::from(v), SSL_CERT_FILE_ENV.to_owned()))
        .into_iter()
        .collect();
    files.extend(
        registry_ca
            .iter()
            .map(|f| (f.clone(), "--registry-ca".to_owned())),
    );
    files
}

/// The TLS settings for an agent, or `None` where nothing is added to the
/// built-in roots (ureq's default then applies).
pub fn client_config(registry_ca: &[PathBuf]) -> Result<Option<Arc<rustls::ClientConfig>>> {
    let files = extra_ca_files(registry_ca);
    if files.is_empty() {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (file, named_by) in files {
        let shown = format!("{named_by} {}", file.display());
        let certificates: Vec<CertificateDer> = CertificateDer::pem_file_iter(&file)
            .with_context(|| format!("{shown}: cannot read it"))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{shown}: not a PEM file of certificates"))?;
        if certificates.is_empty() {
            bail!("{shown}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .with_context(|| format!("{shown}: a certificate that cannot be a trust root"))?;
        }
    }
    // As ureq builds its own: ring, TLS 1.2 and 1.3.
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
    .context("TLS settings")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// The settings with `SSL_CERT_FILE`'s roots alone, read once per process:
/// the dist server's downloads make an agent per file.
fn environment_config() -> Result<Option<Arc<rustls::ClientConfig>>> {
    type Config = Result<Option<Arc<rustls::ClientConfig>>, String>;
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(&[]).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// An agent with these roots and timeouts.
pub fn agent(registry_ca: &[PathBuf], timeout: std::time::Duration) -> Result<ureq::Agent> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(timeout)
        .timeout_read(timeout)
        .timeout_write(timeout);
    let config = if registry_ca.is_empty() {
        environment_config()?
    } else {
        client_config(registry_ca)?
    };
    if let Some(config) = config {
        builder = builder.tls_config(config);
    }
    Ok(builder.build())
}
