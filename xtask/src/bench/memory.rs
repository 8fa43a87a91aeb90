//! The memory side of a bench run: the C hello world built per variant,
//! and the runs whose results are resident memory rather than time — a
//! burst followed by idling (RSS sampled while the program sleeps), hello
//! worlds, and bursts under a real cgroup memory limit (`cgroup`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::{FastmuslSysroots, Run, Variant, cgroup::MemoryCgroup, reported, timed_run};
use crate::{project_root, run_tool};

/// The RSS samples a workload printed, `rss_<moment>_kib=N`, as
/// (`moment` with spaces, KiB) in the order printed: `rss_idle_1000ms_kib`
/// is "idle 1000ms", a bare `rss_kib` (hello world) "at exit".
pub fn rss_samples(text: &str) -> Vec<(String, u64)> {
    text.split_whitespace()
        .filter_map(|word| {
            let (name, value) = word.split_once('=')?;
            let moment = match name.strip_prefix("rss_")?.strip_suffix("kib")? {
                "" => "at exit".to_owned(),
                m => m.strip_suffix('_')?.replace('_', " "),
            };
            Some((moment, value.parse().ok()?))
        })
        .collect()
}

/// A burst then idle (`alloc-workloads idle …`): the time is the burst's
/// own (`burst_s`, not the sleeps after it), the samples its RSS.
pub fn idle_run(binary: &Path, args: &[String]) -> Result<Run> {
    let (mut run, stderr) = timed_run(binary, args)?;
    run.wall_s = reported(&stderr, "burst_s")
        .with_context(|| format!("{} printed no burst_s", binary.display()))?;
    run.rss_kib = rss_samples(&stderr);
    Ok(run)
}

/// A hello world: its RSS at exit.
pub fn hello_run(binary: &Path) -> Result<Run> {
    let (mut run, stderr) = timed_run(binary, &[])?;
    run.rss_kib = rss_samples(&stderr);
    if run.rss_kib.is_empty() {
        bail!("{} printed no rss_kib: {stderr:?}", binary.display());
    }
    Ok(run)
}

/// One run in a fresh cgroup limited to `limit_mib`. The program's end by
/// the OOM killer is a result, not an error; any other failure is.
pub fn limited_run(binary: &Path, args: &[String], limit_mib: u64) -> Result<Run> {
    let group = MemoryCgroup::create("fastmusl-bench", limit_mib << 20)?;
    let (status, stderr, limited) = group.run(binary, args)?;
    if !status.success() && !limited.oom_killed {
        bail!(
            "{} {args:?} under a {limit_mib} MiB limit failed ({status}): {stderr}",
            binary.display()
        );
    }
    Ok(Run {
        wall_s: limited.wall_s,
        peak_rss_kib: reported(&stderr, "peak_rss_kib").unwrap_or(limited.max_usage_kib),
        rss_kib: rss_samples(&stderr),
        limited: Some(limited),
        ..Run::default()
    })
}

/// The C hello world (`xtask/bench/hello.c`) for `variant`, static, in
/// `out/bin/<slug>/hello-c`: glibc's with the host's `cc -static`, stock
/// musl's against rustup's self-contained musl (its libc.a and crt objects;
/// the headers, musl's too, from fastmusl's sysroot), fastmusl's with each
/// flavor's own `-cc`. None for the mimalloc-crate variants: the crate is
/// Rust's global allocator and never C's malloc, so their C would be
/// glibc's or stock musl's again.
pub fn c_hello(
    variant: Variant,
    sysroots: &FastmuslSysroots,
    out: &Path,
) -> Result<Option<PathBuf>> {
    let source = project_root().join("xtask/bench/hello.c");
    let binary = out.join("bin").join(variant.slug()).join("hello-c");
    std::fs::create_dir_all(binary.parent().expect("a file in a directory"))?;
    let default_cc = &sysroots
        .for_flavor(fastmusl_dist::flavor::DEFAULT)?
        .tools
        .cc;
    let mut cmd = match variant {
        Variant::GlibcMimalloc | Variant::StockMuslMimalloc => return Ok(None),
        Variant::Glibc => {
            let mut cc = Command::new("cc");
            cc.args(["-static", "-O2"]);
            cc
        }
        Variant::StockMusl => {
            crate::stock_musl::build_c(default_cc, &[&source], &["-O2"], &binary)?;
            return Ok(Some(binary));
        }
        fastmusl => {
            let flavor = fastmusl.flavor().expect("a fastmusl variant");
            let mut cc = Command::new(&sysroots.for_flavor(flavor)?.tools.cc);
            cc.arg("-O2");
            cc
        }
    };
    cmd.arg(&source).arg("-o").arg(&binary);
    run_tool(cmd)?;
    Ok(Some(binary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_samples_are_named_by_their_moment() {
        let stderr = "burst_s=0.1 rss_burst_kib=2000 rss_idle_100ms_kib=900\n\
                      rss_idle_1000ms_kib=800 peak_rss_kib=2100\n";
        assert_eq!(
            rss_samples(stderr),
            [
                ("burst".to_owned(), 2000),
                ("idle 100ms".to_owned(), 900),
                ("idle 1000ms".to_owned(), 800)
            ]
        );
        assert_eq!(
            rss_samples("rss_kib=452 peak_rss_kib=452"),
            [("at exit".to_owned(), 452)]
        );
    }
}
