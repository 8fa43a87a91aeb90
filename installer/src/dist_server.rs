//! The dist server: the base URL of a release directory made by `cargo xtask
//! dist` (FASTMUSL_DIST_SERVER, default: the project's release location),
//! and fetching files from it with a size bound.
//!
//! HTTPS only, except loopback addresses (tests, local mirrors) and an
//! explicit `file://` directory: everything fetched is verified anyway, but
//! plain HTTP would let anyone on the path withhold updates unnoticed.

use std::{io::Read, path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};

pub const DIST_SERVER_ENV: &str = "FASTMUSL_DIST_SERVER";
pub const DEFAULT_DIST_SERVER: &str =
    "https://github.com/fastmusl/fastmusl/releases/latest/download";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistServer {
    Http { base: String },
    Directory { path: PathBuf },
}

impl DistServer {
    pub fn from_env() -> Result<DistServer> {
        match std::env::var(DIST_SERVER_ENV) {
            Ok(url) if !url.is_empty() => {
                Self::parse(&url).with_context(|| format!("{DIST_SERVER_ENV}={url}"))
            }
            _ => Self::parse(DEFAULT_DIST_SERVER),
        }
    }

    pub fn parse(url: &str) -> Result<DistServer> {
        let url = url.trim_end_matches('/');
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                bail!("a file:// dist server needs an absolute path (file:///srv/fastmusl)");
            }
            return Ok(DistServer::Directory {
                path: PathBuf::from(path),
            });
        }
        if url.starts_with("https://") {
            return Ok(DistServer::Http {
                base: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let host = host_of(rest);
            if is_loopback(host) {
                return Ok(DistServer::Http {
                    base: url.to_owned(),
                });
            }
            bail!(
                "refusing plain http:// to {host}: use https://, a loopback address (127.0.0.1, \
                 [::1], localhost) or a file:// directory"
            );
        }
        bail!("`{url}` is not an https://, loopback http:// or file:// URL")
    }

    pub fn describe(&self) -> String {
        match self {
            DistServer::Http { base } => base.clone(),
            DistServer::Directory { path } => format!("file://{}", path.display()),
        }
    }

    /// Fetches `name` (relative to the server), refusing more than
    /// `max_bytes`. `progress` draws a bar (callers pass true only on a TTY).
    pub fn fetch(&self, name: &str, max_bytes: u64, progress: bool) -> Result<Vec<u8>> {
        if name.contains("..") || name.starts_with('/') || name.contains("://") {
            bail!("refusing to fetch `{name}`: not a plain relative name");
        }
        match self {
            DistServer::Directory { path } => {
                let file = path.join(name);
                let len = std::fs::metadata(&file)
                    .with_context(|| format!("{} is missing", file.display()))?
                    .len();
                if len > max_bytes {
                    bail!(
                        "{} is {len} bytes, more than the {max_bytes} expected",
                        file.display()
                    );
                }
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))
            }
            DistServer::Http { base } => {
                let url = format!("{base}/{name}");
                let agent = ureq::AgentBuilder::new()
                    .timeout_connect(Duration::from_secs(20))
                    .timeout_read(Duration::from_secs(60))
                    .build();
                let response = agent.get(&url).call().map_err(|e| match e {
                    ureq::Error::Status(code, _) => {
                        anyhow::anyhow!("{url}: the server answered HTTP {code}")
                    }
                    other => anyhow::anyhow!("{url}: {other}"),
                })?;
                let declared: Option<u64> = response
                    .header("Content-Length")
                    .and_then(|v| v.parse().ok());
                if let Some(len) = declared
                    && len > max_bytes
                {
                    bail!("{url} is {len} bytes, more than the {max_bytes} expected");
                }
                let bar = progress.then(|| progress_bar(declared, name));
                let mut reader = response.into_reader().take(max_bytes + 1);
                let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(max_bytes) as usize);
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = reader
                        .read(&mut buf)
                        .with_context(|| format!("downloading {url}"))?;
                    if n == 0 {
                        break;
                    }
                    bytes.extend_from_slice(&buf[..n]);
                    if let Some(bar) = &bar {
                        bar.inc(n as u64);
                    }
                }
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                if bytes.len() as u64 > max_bytes {
                    bail!("{url} sent more than the {max_bytes} bytes expected");
                }
                Ok(bytes)
            }
        }
    }
}

fn progress_bar(len: Option<u64>, name: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(len) => indicatif::ProgressBar::new(len),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(name.to_owned());
    bar
}

fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_loopback_http_and_file_urls() {
        assert!(DistServer::parse("https://example.org/dist").is_ok());
        assert!(DistServer::parse("http://127.0.0.1:8000/").is_ok());
        assert!(DistServer::parse("http://127.8.9.10/x").is_ok());
        assert!(DistServer::parse("http://localhost:1/").is_ok());
        assert!(DistServer::parse("http://[::1]:80/").is_ok());
        assert_eq!(
            DistServer::parse("file:///srv/dist/").unwrap(),
            DistServer::Directory {
                path: "/srv/dist".into()
            }
        );
        for bad in [
            "http://example.org/",
            "http://10.0.0.1/",
            "http://127.0.0.1.example.org/",
            "http://user@evil.example:80/",
            "ftp://127.0.0.1/",
            "file://relative",
            "127.0.0.1",
        ] {
            assert!(DistServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_cannot_escape_the_server() {
        let server = DistServer::Directory {
            path: "/tmp".into(),
        };
        for bad in ["../etc/passwd", "/etc/passwd", "https://x/y"] {
            assert!(server.fetch(bad, 10, false).is_err(), "{bad}");
        }
    }
}
