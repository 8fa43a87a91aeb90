//! A small client of the OCI distribution API, enough to push and to
//! check what was pushed: check a blob (`HEAD`), upload one (`POST` a
//! session, then `PUT` it whole: distribution 2.8 does not accept a single
//! `POST ?digest=`), put a manifest; get a manifest or a blob, each checked
//! against its digest. Authentication follows the registry's challenge: HTTP Basic,
//! or the bearer token flow (ask the realm for a token with Basic
//! credentials, if any, for `repository:<repo>:pull,push`), as Docker Hub,
//! GHCR, Artifact Registry and `docker-registry` with token auth do.
//!
//! HTTPS only, except loopback registries, which are spoken to in plain
//! HTTP (the same rule as for dist servers); credentials never go over
//! plain HTTP to anything else.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};

use super::credentials::{Credentials, CredsArg};
use super::oci::Blob;
use super::reference::Reference;
use super::spec::media_type;
use crate::dist_server::{host_of, is_loopback};

pub struct Registry {
    agent: ureq::Agent,
    /// `scheme://host[:port]`.
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header that the registry last accepted.
    authorization: Option<String>,
    display: String,
}

/// How the commands that speak to a registry reach it: its credentials,
/// and the certificate authorities of a registry behind a private CA.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub creds: CredsArg,
    /// A PEM file of CA certificates to trust for the registry, beside
    /// Mozilla's roots and those of SSL_CERT_FILE (for a registry behind a
    /// private CA); implies HTTPS, a loopback registry's too. Repeatable.
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
}

impl Registry {
    /// A client for `reference`'s repository: HTTPS, with the trusted roots
    /// of `crate::tls`; plain HTTP only for a loopback registry given no
    /// `--registry-ca`.
    pub fn connect(reference: &Reference, access: &AccessArgs) -> Result<Registry> {
        let credentials =
            super::credentials::find(&reference.registry, access.creds.creds.as_deref())?;
        let limits = crate::dist_server::DownloadLimits::from_env()?;
        let host = reference.api_host();
        let scheme = if is_loopback(host_of(host)) && access.registry_ca.is_empty() {
            "http"
        } else {
            "https"
        };
        Ok(Registry {
            agent: crate::tls::agent(&access.registry_ca, limits.timeout)?,
            base: format!("{scheme}://{host}"),
            repository: reference.repository.clone(),
            credentials,
            authorization: None,
            display: reference.registry.clone(),
        })
    }

    /// Whether the registry already has `digest` in this repository.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        match self.send("HEAD", &url, None, &[]) {
            Ok(_) => Ok(true),
            Err(Failure::Status(404, _)) => Ok(false),
            Err(e) => Err(self.explain(e, &format!("checking blob {digest}"))),
        }
    }

    /// Uploads a blob in one piece and checks the digest the registry says
    /// it stored.
    pub fn upload_blob(&mut self, blob: &Blob) -> Result<()> {
        let what = format!("uploading blob {}", blob.digest);
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let response = self
            .send("POST", &url, None, &[])
            .map_err(|e| self.explain(e, &what))?;
        let location = response
            .header("Location")
            .ok_or_else(|| anyhow!("{}: {what}: no Location for the upload", self.display))?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_owned()
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={}", blob.digest);
        let response = self
            .send(
                "PUT",
                &put,
                Some(&blob.bytes),
                &[("Content-Type", "application/octet-stream")],
            )
            .map_err(|e| self.explain(e, &what))?;
        self.check_digest(&response, &blob.digest, &what)
    }

    /// The manifest or index under `reference` (a tag or a digest), or
    /// `None` when there is none. Its bytes are checked against the digest
    /// when `reference` is one.
    pub fn get_manifest(&mut self, reference: &str) -> Result<Option<Blob>> {
        let what = format!("reading manifest {reference}");
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let accept = [
            media_type::IMAGE_INDEX.to_owned(),
            media_type::IMAGE_MANIFEST.to_owned(),
            "application/vnd.docker.distribution.manifest.list.v2+json".to_owned(),
            "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
        ]
        .join(", ");
        let response = match self.send("GET", &url, None, &[("Accept", &accept)]) {
            Ok(response) => response,
            Err(Failure::Status(404, _)) => return Ok(None),
            Err(e) => return Err(self.explain(e, &what)),
        };
        let media_type = response
            .header("Content-Type")
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
            .unwrap_or_default();
        let bytes = read_limited(response, MAX_MANIFEST)
            .with_context(|| format!("{}: {what}", self.display))?;
        let blob = Blob::new(&media_type, bytes);
        if reference.starts_with("sha256:") && blob.digest != reference {
            bail!(
                "{}: {what}: the registry sent a document whose digest is {}",
                self.display,
                blob.digest
            );
        }
        Ok(Some(blob))
    }

    /// A blob's bytes, checked against its digest.
    pub fn get_blob(&mut self, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let what = format!("reading blob {digest}");
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let response = self
            .send("GET", &url, None, &[])
            .map_err(|e| self.explain(e, &what))?;
        let bytes =
            read_limited(response, limit).with_context(|| format!("{}: {what}", self.display))?;
        let found = super::layer::sha256_digest(&bytes);
        if found != digest {
            bail!(
                "{}: {what}: the registry sent bytes whose digest is {found}",
                self.display
            );
        }
        Ok(bytes)
    }

    /// Puts a manifest, pointing a tag at it.
    pub fn put_manifest(&mut self, reference: &str, blob: &Blob) -> Result<()> {
        self.put_manifest_with_subject(reference, blob).map(|_| ())
    }

    /// Puts a manifest or index under `reference` (a tag or its digest);
    /// the `OCI-Subject` the registry answers with, if it has the
    /// referrers API.
    pub fn put_manifest_with_subject(
        &mut self,
        reference: &str,
        blob: &Blob,
    ) -> Result<Option<String>> {
        let what = format!("putting manifest {reference}");
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let media_type = blob.media_type.clone();
        let response = self
            .send(
                "PUT",
                &url,
                Some(&blob.bytes),
                &[("Content-Type", &media_type)],
            )
            .map_err(|e| self.explain(e, &what))?;
        let subject = response.header("OCI-Subject").map(str::to_owned);
        self.check_digest(&response, &blob.digest, &what)?;
        Ok(subject)
    }

    fn check_digest(&self, response: &ureq::Response, digest: &str, what: &str) -> Result<()> {
        match response.header("Docker-Content-Digest") {
            Some(stored) if stored != digest => bail!(
                "{}: {what}: the registry stored {stored}, not {digest}",
                self.display
            ),
            _ => Ok(()),
        }
    }

    /// Sends a request; on a 401, answers the challenge once and resends.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<ureq::Response, Failure> {
        match self.send_once(method, url, body, headers) {
            Err(Failure::Status(401, challenge)) => {
                let previous = self.authorization.clone();
                self.authorization = Some(self.answer(&challenge)?);
                if previous.is_some() && previous == self.authorization {
                    return Err(Failure::Denied(challenge.message));
                }
                self.send_once(method, url, body, headers)
                    .map_err(|e| match e {
                        Failure::Status(401 | 403, c) => Failure::Denied(c.message),
                        other => other,
                    })
            }
            Err(Failure::Status(403, c)) => Err(Failure::Denied(c.message)),
            other => other,
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<ureq::Response, Failure> {
        let mut request = self.agent.request(method, url);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(authorization) = &self.authorization {
            request = request.set("Authorization", authorization);
        }
        let result = match body {
            Some(bytes) => request.send_bytes(bytes),
            None if method == "POST" || method == "PUT" => request.send_bytes(&[]),
            None => request.call(),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(code, response)) => {
                Err(Failure::Status(code, Challenge::read(response)))
            }
            Err(ureq::Error::Transport(t)) => Err(Failure::Transport(t.to_string())),
        }
    }

    /// The `Authorization` header that answers a 401's challenge.
    fn answer(&self, challenge: &Challenge) -> Result<String, Failure> {
        let Some(header) = &challenge.www_authenticate else {
            return Err(Failure::Denied(challenge.message.clone()));
        };
        let (scheme, params) = parse_challenge(header);
        if scheme.eq_ignore_ascii_case("basic") {
            return match &self.credentials {
                Some(c) => Ok(c.basic_header()),
                None => Err(Failure::NoCredentials),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Failure::Other(format!(
                "the registry asks for `{scheme}` authentication, which fastmusl does not speak"
            )));
        }
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Failure::Other("a bearer challenge without a realm".into()))?;
        self.fetch_token(&realm, &params)
    }

    fn fetch_token(&self, realm: &str, params: &[(String, String)]) -> Result<String, Failure> {
        let realm_host = realm.strip_prefix("https://").or_else(|| {
            realm
                .strip_prefix("http://")
                .filter(|r| is_loopback(host_of(r)))
        });
        if realm_host.is_none() {
            return Err(Failure::Other(format!(
                "the token realm {realm} is neither https:// nor loopback: credentials are not \
                 sent there"
            )));
        }
        let mut request = self.agent.get(realm).query(
            "scope",
            &format!("repository:{}:pull,push", self.repository),
        );
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            request = request.query("service", service);
        }
        if let Some(credentials) = &self.credentials {
            request = request.set("Authorization", &credentials.basic_header());
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(401 | 403, response)) => {
                let challenge = Challenge::read(response);
                return Err(match self.credentials {
                    Some(_) => Failure::Denied(challenge.message),
                    None => Failure::NoCredentials,
                });
            }
            Err(ureq::Error::Status(code, _)) => {
                return Err(Failure::Other(format!(
                    "the token service {realm} answered HTTP {code}"
                )));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(Failure::Other(format!("the token service {realm}: {t}")));
            }
        };
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response
            .into_string()
            .ok()
            .and_then(|body| serde_json::from_str(&body).ok())
            .ok_or_else(|| Failure::Other(format!("the token service {realm}: no JSON answer")))?;
        token
            .token
            .or(token.access_token)
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| Failure::Other(format!("the token service {realm} gave no token")))
    }

    fn explain(&self, failure: Failure, what: &str) -> anyhow::Error {
        let registry = &self.display;
        match failure {
            Failure::Transport(e) => {
                anyhow!("cannot reach the registry {registry} ({}): {e}", self.base)
            }
            Failure::NoCredentials => anyhow!(
                "{registry} asks for credentials and none were found: log in (`docker login \
                 {registry}` or `podman login`) or pass --creds USER:PASS"
            ),
            Failure::Denied(message) => match &self.credentials {
                Some(c) => anyhow!(
                    "{registry} refused the credentials of {} (from {}) for {what}: {message}",
                    c.username,
                    c.source
                ),
                None => anyhow!("{registry} refused {what}: {message}"),
            },
            Failure::Status(code, challenge) => {
                anyhow!("{registry}: {what}: HTTP {code}: {}", challenge.message)
            }
            Failure::Other(message) => anyhow!("{registry}: {what}: {message}"),
        }
        .context(format!("pushing to {registry}/{}", self.repository))
    }
}

/// The most a manifest may weigh (the distribution spec lets registries
/// refuse those over 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

fn read_limited(response: ureq::Response, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        bail!("the answer is larger than {limit} bytes");
    }
    Ok(bytes)
}

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    Status(u16, Challenge),
    Transport(String),
    NoCredentials,
    Denied(String),
    Other(String),
}

/// What an error response says: its challenge and the registry's message.
#[derive(Debug)]
struct Challenge {
    www_authenticate: Option<String>,
    message: String,
}

impl Challenge {
    fn read(response: ureq::Response) -> Challenge {
        let www_authenticate = response.header("WWW-Authenticate").map(str::to_owned);
        let status = response.status();
        let body = response.into_string().unwrap_or_default();
        Challenge {
            www_authenticate,
            message: error_message(&body).unwrap_or_else(|| format!("HTTP {status}")),
        }
    }
}

/// The distribution spec's `{"errors": [{"code": ..., "message": ...}]}`.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            format!("{code}: {message}")
        })
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// `Bearer realm="https://auth",service="reg",scope="repository:a:pull,push"`
/// → ("Bearer", [(realm, ...), (service, ...), (scope, ...)]). Values may
/// be quoted and hold commas.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => value.push(other),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_owned(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_quoted_commas() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        let get = |k: &str| params.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(get("realm"), "https://auth.docker.io/token");
        assert_eq!(get("service"), "registry.docker.io");
        assert_eq!(get("scope"), "repository:library/a:pull,push");
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (scheme.as_str(), params[0].1.as_str()),
            ("Basic", "Registry Realm")
        );
        let (_, params) = parse_challenge("Bearer realm=http://127.0.0.1:9/t, service=x");
        assert_eq!(params.len(), 2, "{params:?}");
        assert_eq!(params[1], ("service".into(), "x".into()));
    }

    #[test]
    fn registry_error_bodies() {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(
            error_message(body).unwrap(),
            "UNAUTHORIZED: authentication required"
        );
        assert_eq!(error_message("<html>"), None);
    }
}
