//! One run of the HTTP workload: start the variant's server (`serve`), drive
//! it with the load generator (`load`, the same binary for every variant),
//! sample the server's RSS while it idles after the load, then close its
//! stdin and read what it reports.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::reported;

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct HttpRun {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_request: f64,
    pub peak_rss_kib: u64,
}

/// Kills the server if the run ends early, so no server outlives an error.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Returns the run's figures and the server's RSS (KiB) `idle_ms` after
/// the load generator finished, as ("idle <ms>ms", KiB).
pub fn run(
    server: &Path,
    load_generator: &Path,
    threads: usize,
    connections: usize,
    millis: u64,
    idle_ms: &[u64],
) -> Result<(HttpRun, Vec<(String, u64)>)> {
    let mut server = Server(
        Command::new(server)
            .args(["serve", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?,
    );
    let mut stdout = BufReader::new(server.0.stdout.take().context("server stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("the server did not say where it listens: {line:?}"))?
        .to_owned();
    let load = Command::new(load_generator)
        .args(["load", &addr, &connections.to_string(), &millis.to_string()])
        .output()
        .with_context(|| format!("running {}", load_generator.display()))?;
    if !load.status.success() {
        bail!(
            "the load generator failed ({}): {}",
            load.status,
            String::from_utf8_lossy(&load.stderr)
        );
    }
    let report = String::from_utf8_lossy(&load.stdout);
    let field = |name: &str| -> Result<f64> {
        reported(&report, name)
            .with_context(|| format!("the load generator printed no {name}: {report:?}"))
    };
    let (requests, seconds) = (field("requests")?, field("seconds")?);
    let (p50_us, p99_us) = (field("p50_us")?, field("p99_us")?);
    let idle_since = Instant::now();
    let mut idle_rss = Vec::new();
    for &ms in idle_ms {
        let at = idle_since + Duration::from_millis(ms);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        idle_rss.push((format!("idle {ms}ms"), process_rss_kib(server.0.id())?));
    }

    // Closing stdin tells the server to report and exit.
    drop(server.0.stdin.take());
    let mut served = String::new();
    stdout.read_to_string(&mut served)?;
    let mut stderr = String::new();
    server
        .0
        .stderr
        .take()
        .context("server stderr")?
        .read_to_string(&mut stderr)?;
    let status = server.0.wait()?;
    if !status.success() {
        bail!("the server failed ({status}): {stderr}");
    }
    let served: f64 = served
        .trim()
        .parse()
        .with_context(|| format!("the server printed no request count: {served:?}"))?;
    let value = |name: &str| -> Result<u64> {
        reported(&stderr, name).with_context(|| format!("the server printed no {name}: {stderr:?}"))
    };
    if served < requests {
        bail!("the server counted {served} requests, the load generator {requests}");
    }
    let run = HttpRun {
        requests_per_s: requests / seconds,
        p50_ms: p50_us / 1000.0,
        p99_ms: p99_us / 1000.0,
        cpu_us_per_request: value("cpu_us")? as f64 / served,
        peak_rss_kib: value("peak_rss_kib")?,
    };
    Ok((run, idle_rss))
}

/// A running process's resident memory (`Rss` of its smaps_rollup), KiB.
fn process_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Rss:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no Rss in {path}"))
}
