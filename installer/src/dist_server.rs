//! The dist server: the base URL of a release directory made by `cargo xtask
//! dist` (FASTMUSL_DIST_SERVER, default: the project's release location),
//! and fetching files from it within bounds.
//!
//! HTTPS only, except loopback addresses (tests, local mirrors) and an
//! explicit `file://` directory: everything fetched is verified anyway, but
//! plain HTTP would let anyone on the path withhold updates unnoticed.
//!
//! A server that misbehaves must not hang the user or eat memory, so every
//! download has limits, in the spirit of cargo's `http.timeout` and
//! `http.low-speed-limit` (see `DownloadLimits`): no more bytes than the
//! caller expects (the signed manifest's size for artifacts), an overall
//! deadline, and a minimum speed over every window of the timeout.

use std::{
    io::Read,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

pub const DIST_SERVER_ENV: &str = "FASTMUSL_DIST_SERVER";
pub const TIMEOUT_ENV: &str = "FASTMUSL_HTTP_TIMEOUT";
pub const LOW_SPEED_LIMIT_ENV: &str = "FASTMUSL_HTTP_LOW_SPEED_LIMIT";
pub const DEADLINE_ENV: &str = "FASTMUSL_HTTP_DEADLINE";

/// How long a download may take and how slowly it may arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// To connect, to get the response's headers, and the window over
    /// which the speed is judged (`FASTMUSL_HTTP_TIMEOUT`, seconds; cargo's
    /// `http.timeout` is the same default).
    pub timeout: Duration,
    /// Fewer bytes per second than this, averaged over a `timeout` window,
    /// is a stall (`FASTMUSL_HTTP_LOW_SPEED_LIMIT`; cargo's default too).
    pub low_speed_limit: u64,
    /// The whole download, headers to last byte (`FASTMUSL_HTTP_DEADLINE`,
    /// seconds): a server that never ends a response, at any speed.
    pub deadline: Duration,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            timeout: Duration::from_secs(30),
            low_speed_limit: 10,
            deadline: Duration::from_secs(600),
        }
    }
}

impl DownloadLimits {
    /// The defaults, with any of the three environment variables applied.
    pub fn from_env() -> Result<DownloadLimits> {
        let number = |name: &str| -> Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .with_context(|| format!("{name}={v:?} is not a whole number")),
                _ => Ok(None),
            }
        };
        let mut limits = DownloadLimits::default();
        if let Some(s) = number(TIMEOUT_ENV)? {
            if s == 0 {
                bail!("{TIMEOUT_ENV}=0: the timeout must be at least 1 second");
            }
            limits.timeout = Duration::from_secs(s);
        }
        if let Some(b) = number(LOW_SPEED_LIMIT_ENV)? {
            limits.low_speed_limit = b;
        }
        if let Some(s) = number(DEADLINE_ENV)? {
            if s == 0 {
                bail!("{DEADLINE_ENV}=0: the deadline must be at least 1 second");
            }
            limits.deadline = Duration::from_secs(s);
        }
        Ok(limits)
    }
}

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
            _ => Self::parse(fastmusl_dist::DEFAULT_DIST_SERVER),
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

    /// Where `name` is fetched from, for messages.
    pub fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.describe())
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
                download(&url, name, max_bytes, progress, DownloadLimits::from_env()?)
            }
        }
    }
}

/// Downloads `url` within `max_bytes` and `limits`; every error names the
/// URL and, for a slow or stalled server, the setting that would allow it.
fn download(
    url: &str,
    name: &str,
    max_bytes: u64,
    progress: bool,
    limits: DownloadLimits,
) -> Result<Vec<u8>> {
    let started = Instant::now();
    // ureq's overall `timeout` would replace the read timeout by the time
    // left to it, so the deadline is checked here, after every read (each
    // of which waits at most `limits.timeout`).
    // The trusted roots include SSL_CERT_FILE's: a mirror behind a private
    // CA. (The signed manifest, not TLS, is what fastmusl trusts.)
    let agent = crate::tls::agent(&[], limits.timeout)?;
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => anyhow::anyhow!("{url}: the server answered HTTP {code}"),
        ureq::Error::Transport(t) if is_timeout(&t) => {
            stalled(url, 0, started, limits, "no response")
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
    // Never more than the bound, whatever the server declares.
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(max_bytes) as usize);
    let mut buf = [0u8; 64 * 1024];
    let mut window_start = Instant::now();
    let mut window_bytes: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if is_io_timeout(&e) => {
                let got = bytes.len() as u64;
                return Err(stalled(url, got, started, limits, "no data"));
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("downloading {url}"))),
        };
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        if started.elapsed() > limits.deadline {
            let got = bytes.len() as u64;
            return Err(stalled(url, got, started, limits, "too slow"));
        }
        if bytes.len() as u64 > max_bytes {
            bail!("{url} sent more than the {max_bytes} bytes expected; refusing it");
        }
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
        window_bytes += n as u64;
        let window = window_start.elapsed();
        if window >= limits.timeout {
            if window_bytes
                < limits
                    .low_speed_limit
                    .saturating_mul(window.as_secs().max(1))
            {
                let got = bytes.len() as u64;
                return Err(stalled(url, got, started, limits, "too slow"));
            }
            window_start = Instant::now();
            window_bytes = 0;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(bytes)
}

/// The error for a server that stopped, crawled, or ran past the deadline.
fn stalled(
    url: &str,
    received: u64,
    started: Instant,
    limits: DownloadLimits,
    what: &str,
) -> anyhow::Error {
    let elapsed = started.elapsed();
    let DownloadLimits {
        timeout,
        low_speed_limit,
        deadline,
    } = limits;
    let cause = if elapsed >= deadline {
        format!(
            "not finished within the {} s deadline ({DEADLINE_ENV})",
            deadline.as_secs()
        )
    } else {
        format!(
            "{what}: under {low_speed_limit} bytes/s for {} s ({LOW_SPEED_LIMIT_ENV}, {TIMEOUT_ENV})",
            timeout.as_secs()
        )
    };
    anyhow::anyhow!(
        "downloading {url} stalled after {received} bytes in {:.1} s: {cause}.\n\
         Nothing was installed. Try again later or another FASTMUSL_DIST_SERVER; on a slow \
         link, raise {TIMEOUT_ENV} or {DEADLINE_ENV} (seconds) or lower {LOW_SPEED_LIMIT_ENV} \
         (bytes/s).",
        elapsed.as_secs_f64()
    )
}

fn is_timeout(t: &ureq::Transport) -> bool {
    t.kind() == ureq::ErrorKind::Io
        && std::error::Error::source(t)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(is_io_timeout)
}

fn is_io_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
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

pub(crate) fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

pub(crate) fn is_loopback(host: &str) -> bool {
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
