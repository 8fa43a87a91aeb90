//! `cargo xtask bench [--quick]`: the same workloads (xtask/bench/alloc-workloads)
//! built as several variants and timed side by side in one run.
//!
//! Variants: glibc; glibc + the mimalloc crate (the ceiling); rustup's stock
//! musl (the problem); stock musl + the mimalloc crate (today's workaround,
//! its C built with fastmusl's C wrapper); fastmusl's sysroot (ours). Each
//! built binary is first checked to contain the allocator it claims, by
//! running it with MIMALLOC_VERBOSE=1 and reading mimalloc's banner.
//!
//! Method: one warm-up run per variant, then rounds that run every variant
//! once in turn (A B C D E, A B C D E, …) so drift hits all alike; medians
//! and min–max of wall time; peak RSS as the program reads its own VmHWM.
//! Output:
//! target/bench/report.json and target/bench/report.md.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::{
    default_sysroot_root,
    fixture::{Sysroot, mimalloc_banner},
    project_root,
    sysroot::{SysrootRequest, build_or_reuse},
};

const HOST_MUSL: &str = "x86_64-unknown-linux-musl";
const HOST_GNU: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Variant {
    Glibc,
    GlibcMimalloc,
    StockMusl,
    StockMuslMimalloc,
    Fastmusl,
}

impl Variant {
    pub const ALL: [Variant; 5] = [
        Variant::Glibc,
        Variant::GlibcMimalloc,
        Variant::StockMusl,
        Variant::StockMuslMimalloc,
        Variant::Fastmusl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Glibc => "glibc",
            Variant::GlibcMimalloc => "glibc + mimalloc crate",
            Variant::StockMusl => "stock musl",
            Variant::StockMuslMimalloc => "stock musl + mimalloc crate",
            Variant::Fastmusl => "fastmusl",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Variant::Glibc => "glibc",
            Variant::GlibcMimalloc => "glibc-mimalloc",
            Variant::StockMusl => "musl",
            Variant::StockMuslMimalloc => "musl-mimalloc",
            Variant::Fastmusl => "fastmusl",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Variant::Glibc | Variant::GlibcMimalloc => HOST_GNU,
            _ => HOST_MUSL,
        }
    }

    fn mimalloc_crate(self) -> bool {
        matches!(self, Variant::GlibcMimalloc | Variant::StockMuslMimalloc)
    }
}

/// One workload: a name and the program's arguments.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub group: String,
    pub threads: usize,
    pub args: Vec<String>,
}

fn workloads(quick: bool) -> Vec<Workload> {
    let mut list = Vec::new();
    let threads: &[usize] = if quick { &[1, 8] } else { &[1, 2, 4, 8, 16] };
    let scale = if quick { 20_000 } else { 1_000_000 };
    for (size, min, max, ops) in [
        ("small", 16, 512, scale),
        ("medium", 4 << 10, 64 << 10, scale / 10),
        ("large", 128 << 10, 512 << 10, scale / 100),
    ] {
        for &t in threads {
            list.push(Workload {
                name: format!("churn {size} x{t}"),
                group: format!("churn {size}"),
                threads: t,
                args: vec![
                    "churn".into(),
                    t.to_string(),
                    ops.to_string(),
                    min.to_string(),
                    max.to_string(),
                ],
            });
        }
    }
    for (name, cmd) in [
        ("producer/consumer", "prodcons"),
        ("realloc growth", "realloc"),
    ] {
        let t = 8;
        list.push(Workload {
            name: format!("{name} x{t}"),
            group: name.into(),
            threads: t,
            args: vec![cmd.into(), t.to_string(), scale.to_string()],
        });
    }
    let (docs, buffers) = if quick {
        (2_000, 200)
    } else {
        (100_000, 20_000)
    };
    for t in [1, 8] {
        list.push(Workload {
            name: format!("rayon JSON x{t}"),
            group: "rayon JSON".into(),
            threads: t,
            args: vec!["json".into(), t.to_string(), docs.to_string()],
        });
        list.push(Workload {
            name: format!("zstd from C x{t}"),
            group: "zstd from C".into(),
            threads: t,
            args: vec!["zstd".into(), t.to_string(), buffers.to_string()],
        });
    }
    let bytes = if quick { 64 << 20 } else { 4 << 30 };
    for size in [64, 1 << 10, 64 << 10, 1 << 20] {
        list.push(Workload {
            name: format!("memcpy {size} B"),
            group: "memcpy".into(),
            threads: 1,
            args: vec!["memcpy".into(), size.to_string(), bytes.to_string()],
        });
    }
    list
}

#[derive(Debug, Serialize)]
pub struct Measurement {
    pub workload: String,
    pub variant: &'static str,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub peak_rss_kib: u64,
    pub runs: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub quick: bool,
    pub runs_per_variant: usize,
    pub binary_size_bytes: Vec<(&'static str, u64)>,
    pub measurements: Vec<Measurement>,
}

pub fn run(quick: bool, mirror: Option<PathBuf>) -> Result<PathBuf> {
    let sysroot_dir = build_or_reuse(&SysrootRequest {
        triple: HOST_MUSL.parse()?,
        mirror,
        out_root: default_sysroot_root(),
    })?;
    let sysroot = Sysroot::open(&sysroot_dir)?;
    let out = project_root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let mut binaries = Vec::new();
    for variant in Variant::ALL {
        let binary = build_variant(variant, &sysroot, &out)?;
        check_allocator(variant, &binary)?;
        binaries.push((variant, binary));
    }
    let runs = if quick { 1 } else { 5 };
    let mut measurements = Vec::new();
    for workload in workloads(quick) {
        eprintln!("bench: {}", workload.name);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
        let mut rss = vec![0u64; binaries.len()];
        for (_, binary) in &binaries {
            timed_run(binary, &workload.args)?; // warm-up
        }
        for _ in 0..runs {
            for (i, (_, binary)) in binaries.iter().enumerate() {
                let (seconds, peak) = timed_run(binary, &workload.args)?;
                times[i].push(seconds);
                rss[i] = rss[i].max(peak);
            }
        }
        for (i, (variant, _)) in binaries.iter().enumerate() {
            let mut t = times[i].clone();
            t.sort_by(f64::total_cmp);
            measurements.push(Measurement {
                workload: workload.name.clone(),
                variant: variant.name(),
                median_s: t[t.len() / 2],
                min_s: t[0],
                max_s: t[t.len() - 1],
                peak_rss_kib: rss[i],
                runs,
            });
        }
    }
    let binary_size_bytes = binaries
        .iter()
        .map(|(v, b)| Ok((v.name(), std::fs::metadata(b)?.len())))
        .collect::<Result<_>>()?;
    let report = Report {
        machine: machine(),
        quick,
        runs_per_variant: runs,
        binary_size_bytes,
        measurements,
    };
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let markdown = markdown(&report);
    std::fs::write(out.join("report.md"), &markdown)?;
    print!("{markdown}");
    Ok(out)
}

/// Builds the workloads for `variant` (stripped, release).
fn build_variant(variant: Variant, sysroot: &Sysroot, out: &Path) -> Result<PathBuf> {
    let src = project_root().join("xtask/bench/alloc-workloads");
    let target_dir = out.join("build").join(variant.slug());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&src)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            variant.target(),
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if variant.mimalloc_crate() {
        cmd.args(["--features", "mimalloc"]);
    }
    let env = sysroot.platform.triple.env_suffix();
    match variant {
        Variant::Fastmusl => {
            let linker = format!(
                "target.{HOST_MUSL}.linker={}",
                toml::Value::String(sysroot.tools.linker.display().to_string())
            );
            cmd.args(["--config", &linker]);
            cmd.env(format!("CC_{env}"), &sysroot.tools.cc)
                .env(format!("AR_{env}"), &sysroot.tools.ar);
        }
        // rustup's own musl (and libc.a), with the C of the mimalloc crate
        // and zstd compiled for musl by fastmusl's C wrapper, as there is
        // no musl-gcc here.
        Variant::StockMusl | Variant::StockMuslMimalloc => {
            cmd.env(format!("CC_{env}"), &sysroot.tools.cc)
                .env(format!("AR_{env}"), &sysroot.tools.ar);
        }
        _ => {}
    }
    let output = cmd.output().context("running cargo")?;
    if !output.status.success() {
        bail!(
            "building the {} variant failed:\n{}",
            variant.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(target_dir
        .join(variant.target())
        .join("release/alloc-workloads"))
}

/// The binary must contain the allocator it claims: fastmusl prints its
/// libc's mimalloc 3.4.3 banner, the mimalloc-crate variants a banner of
/// the crate's mimalloc, glibc and stock musl none.
fn check_allocator(variant: Variant, binary: &Path) -> Result<()> {
    let output = Command::new(binary)
        .args(["churn", "1", "1000", "16", "64"])
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let banner = mimalloc_banner(&stderr);
    let ok = match variant {
        Variant::Glibc | Variant::StockMusl => banner.is_none(),
        Variant::GlibcMimalloc | Variant::StockMuslMimalloc => banner.is_some(),
        Variant::Fastmusl => banner.is_some_and(|b| b.starts_with("v3.4.3")),
    };
    if !output.status.success() || !ok {
        bail!(
            "the {} binary does not run with the allocator it claims (banner: {banner:?})",
            variant.name()
        );
    }
    Ok(())
}

/// Wall time and peak RSS (KiB, the program's own VmHWM) of one run.
fn timed_run(binary: &Path, args: &[String]) -> Result<(f64, u64)> {
    let started = Instant::now();
    let output = Command::new(binary).args(args).output()?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{} {args:?} failed ({}): {stderr}",
            binary.display(),
            output.status
        );
    }
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{} printed no peak_rss_kib", binary.display()))?;
    Ok((seconds, peak))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The header and separator of a table with a column per variant, then `extra` columns.
fn table_header(extra: &[&str]) -> String {
    let columns: Vec<&str> = Variant::ALL
        .iter()
        .map(|v| v.name())
        .chain(extra.iter().copied())
        .collect();
    let mut text = String::from("| workload |");
    for c in &columns {
        text += &format!(" {c} |");
    }
    text += "\n|---|";
    text += &"---|".repeat(columns.len());
    text + "\n"
}

/// Measurements grouped by workload, in the order they were taken.
fn rows_by_workload(report: &Report) -> Vec<(&str, Vec<&Measurement>)> {
    let mut rows: Vec<(&str, Vec<&Measurement>)> = Vec::new();
    for m in &report.measurements {
        match rows.last_mut() {
            Some((name, row)) if *name == m.workload => row.push(m),
            _ => rows.push((m.workload.as_str(), vec![m])),
        }
    }
    rows
}

fn markdown(report: &Report) -> String {
    let mut text = format!(
        "Machine: {}. {} run(s) per variant after a warm-up, variants alternated; median wall time in \
         seconds (min–max), ratio vs glibc. Gap closed = (T_stock_musl − T) / (T_stock_musl − T_ceiling), \
         ceiling = glibc + mimalloc crate.{}\n\n",
        report.machine,
        report.runs_per_variant,
        if report.quick {
            " QUICK SMOKE RUN: not for conclusions."
        } else {
            ""
        }
    );
    let rows = rows_by_workload(report);
    text += &table_header(&["fastmusl gap closed"]);
    for (name, row) in &rows {
        let by = |v: Variant| {
            row.iter()
                .find(|m| m.variant == v.name())
                .map(|m| m.median_s)
                .unwrap_or(f64::NAN)
        };
        let glibc = by(Variant::Glibc);
        text += &format!("| {name} |");
        for m in row {
            text += &format!(
                " {:.3} ({:.3}–{:.3}) {:.2}× |",
                m.median_s,
                m.min_s,
                m.max_s,
                m.median_s / glibc
            );
        }
        let (stock, ceiling, ours) = (
            by(Variant::StockMusl),
            by(Variant::GlibcMimalloc),
            by(Variant::Fastmusl),
        );
        text += &format!(" {:.0}% |\n", 100.0 * (stock - ours) / (stock - ceiling));
    }
    text += "\nPeak RSS (KiB), largest over the runs:\n\n";
    text += &table_header(&[]);
    for (name, row) in &rows {
        text += &format!("| {name} |");
        for m in row {
            text += &format!(" {} |", m.peak_rss_kib);
        }
        text += "\n";
    }
    text += "\nStripped binary size (bytes): ";
    text += &report
        .binary_size_bytes
        .iter()
        .map(|(v, s)| format!("{v} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    text += "\n";
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markdown_report_has_a_row_per_workload_and_a_column_per_variant() {
        let measurement = |workload: &str, variant: Variant, median_s: f64| Measurement {
            workload: workload.to_owned(),
            variant: variant.name(),
            median_s,
            min_s: median_s,
            max_s: median_s,
            peak_rss_kib: 100,
            runs: 1,
        };
        let times = [1.0, 0.5, 10.0, 2.0, 0.5];
        let measurements = ["a", "b"]
            .iter()
            .flat_map(|w| {
                Variant::ALL
                    .iter()
                    .zip(times)
                    .map(move |(v, t)| measurement(w, *v, t))
            })
            .collect();
        let report = Report {
            machine: "test".into(),
            quick: true,
            runs_per_variant: 1,
            binary_size_bytes: vec![],
            measurements,
        };
        let text = markdown(&report);
        assert!(text.contains("| workload | glibc | glibc + mimalloc crate | stock musl | stock musl + mimalloc crate | fastmusl | fastmusl gap closed |\n|---|---|---|---|---|---|---|\n"), "{text}");
        assert!(text.contains("| a | 1.000 (1.000–1.000) 1.00× | 0.500 (0.500–0.500) 0.50× | 10.000 (10.000–10.000) 10.00× | 2.000 (2.000–2.000) 2.00× | 0.500 (0.500–0.500) 0.50× | 100% |"), "{text}");
        assert!(
            text.contains("| b | 100 | 100 | 100 | 100 | 100 |"),
            "{text}"
        );
    }
}
