//! `cargo xtask bench [--quick]`: the same workloads (xtask/bench/alloc-workloads)
//! built as several variants and timed side by side in one run.
//!
//! Variants: glibc; glibc + the mimalloc crate (the ceiling); rustup's stock
//! musl (the problem); stock musl + the mimalloc crate (today's workaround,
//! its C built with fastmusl's C wrapper); fastmusl's sysroot (ours), in
//! its default and its secure flavor. Each built binary is first checked to
//! contain the allocator it claims, by running it with MIMALLOC_VERBOSE=1
//! and reading mimalloc's banner (and, for fastmusl, its secure level).
//!
//! Method: one warm-up run per variant, then rounds that run every variant
//! once in turn (A B C D E, A B C D E, …) so drift hits all alike; medians
//! and min–max of wall time; peak RSS as the program reads its own VmHWM.
//! The HTTP server runs for a fixed time instead (see `http`).
//! Output in target/bench/: report.json, report.md (tables and the goals
//! checked, see `report`) and churn-throughput.png (see `plot`).

pub mod cgroup;
mod free_checks;
mod http;
mod memory;
mod memory_study;
mod plot;
mod report;
mod secure_levels;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use fastmusl_dist::rust_std;
use serde::Serialize;

pub use report::{Measurement, Report, Run, Spread, VariantInfo};

use crate::{
    default_sysroot_root,
    fixture::{Sysroot, mimalloc_banner},
    pins::SourcePins,
    platforms::{FlavorRow, PlatformTable},
    project_root,
    stock_musl::HOST_MUSL,
    sysroot::{SysrootRequest, build_or_reuse, sysroot_dir},
};

const HOST_GNU: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Variant {
    Glibc,
    GlibcMimalloc,
    StockMusl,
    StockMuslMimalloc,
    Fastmusl,
    FastmuslSecure,
    /// fastmusl with mimalloc's secure levels 1–3, built for the study of
    /// what each costs (`cargo xtask bench --secure-levels`), never shipped.
    SecureLevel1,
    SecureLevel2,
    SecureLevel3,
    /// fastmusl's default flavor with one point of the footprint study
    /// (`memory_study::POINTS[i]`) as its defaults, never shipped.
    MemoryStudy(usize),
    /// A fastmusl flavor built at a lower level of its checks at every free
    /// (`free_checks::POINTS[i]`), never shipped.
    FreeChecks(usize),
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Glibc,
        Variant::GlibcMimalloc,
        Variant::StockMusl,
        Variant::StockMuslMimalloc,
        Variant::Fastmusl,
        Variant::FastmuslSecure,
    ];

    /// The secure-level study: fastmusl at mimalloc's secure levels 0–4.
    pub const SECURE_LEVELS: [Variant; 5] = [
        Variant::Fastmusl,
        Variant::SecureLevel1,
        Variant::SecureLevel2,
        Variant::SecureLevel3,
        Variant::FastmuslSecure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Glibc => "glibc",
            Variant::GlibcMimalloc => "glibc + mimalloc crate",
            Variant::StockMusl => "stock musl",
            Variant::StockMuslMimalloc => "stock musl + mimalloc crate",
            Variant::Fastmusl => "fastmusl",
            Variant::FastmuslSecure => "fastmusl secure",
            Variant::SecureLevel1 => "fastmusl MI_SECURE=1",
            Variant::SecureLevel2 => "fastmusl MI_SECURE=2",
            Variant::SecureLevel3 => "fastmusl MI_SECURE=3",
            Variant::MemoryStudy(i) => memory_study::POINTS[i].label,
            Variant::FreeChecks(i) => free_checks::POINTS[i].label,
        }
    }

    pub(crate) fn slug(self) -> &'static str {
        match self {
            Variant::Glibc => "glibc",
            Variant::GlibcMimalloc => "glibc-mimalloc",
            Variant::StockMusl => "musl",
            Variant::StockMuslMimalloc => "musl-mimalloc",
            Variant::Fastmusl => "fastmusl",
            Variant::FastmuslSecure => "fastmusl-secure",
            Variant::SecureLevel1 => "fastmusl-secure-1",
            Variant::SecureLevel2 => "fastmusl-secure-2",
            Variant::SecureLevel3 => "fastmusl-secure-3",
            Variant::MemoryStudy(i) => memory_study::POINTS[i].flavor,
            Variant::FreeChecks(i) => free_checks::POINTS[i].flavor,
        }
    }

    /// fastmusl's sysroot flavor it links against, if any.
    pub(crate) fn flavor(self) -> Option<&'static str> {
        match self {
            Variant::Fastmusl => Some(fastmusl_dist::flavor::DEFAULT),
            Variant::FastmuslSecure => Some("secure"),
            Variant::SecureLevel1 => Some("secure1"),
            Variant::SecureLevel2 => Some("secure2"),
            Variant::SecureLevel3 => Some("secure3"),
            Variant::MemoryStudy(i) => Some(memory_study::POINTS[i].flavor),
            Variant::FreeChecks(i) => Some(free_checks::POINTS[i].flavor),
            _ => None,
        }
    }

    /// The secure level mimalloc must report in a fastmusl variant.
    pub fn secure_level(self) -> Option<u32> {
        match self {
            Variant::Fastmusl | Variant::MemoryStudy(_) => Some(0),
            Variant::SecureLevel1 => Some(1),
            Variant::SecureLevel2 => Some(2),
            Variant::SecureLevel3 => Some(3),
            Variant::FastmuslSecure => Some(4),
            Variant::FreeChecks(i) => Some(if free_checks::POINTS[i].shipped == "secure" {
                4
            } else {
                0
            }),
            _ => None,
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

/// One workload: its row in the tables, the plot line it belongs to, and
/// how it is run.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub group: String,
    pub threads: usize,
    /// Copies, not allocations: left out of the allocator goals.
    pub allocates: bool,
    /// Allocations the workload makes, where counted (for throughput).
    pub allocations: Option<u64>,
    pub kind: Kind,
}

#[derive(Debug, Clone, Serialize)]
pub enum Kind {
    /// A fixed amount of work: the program with these arguments, timed.
    Timed { args: Vec<String> },
    /// The HTTP server under load for a fixed time, then its RSS sampled
    /// while it idles `idle_ms` after the load.
    Http {
        connections: usize,
        millis: u64,
        idle_ms: Vec<u64>,
    },
    /// A burst, freed, then idle (`alloc-workloads idle`): the burst timed,
    /// RSS sampled while idle.
    Idle { args: Vec<String> },
    /// A hello world's resident memory, Rust's (`hello`) or C's
    /// (`xtask/bench/hello.c`).
    Hello { c: bool },
    /// The program run in a cgroup with a hard memory limit.
    Limited { args: Vec<String>, limit_mib: u64 },
}

impl Workload {
    /// There for its memory figures alone: left out of the time tables.
    pub fn memory_only(&self) -> bool {
        matches!(self.kind, Kind::Hello { .. } | Kind::Limited { .. })
    }
}

/// libc's string functions the bench calls directly, each a row group.
pub const STRING_FUNCTIONS: [&str; 6] =
    ["memcpy", "memmove", "memset", "memcmp", "strlen", "memchr"];

fn timed(name: String, group: &str, threads: usize, args: &[&str]) -> Workload {
    Workload {
        name,
        group: group.to_owned(),
        threads,
        allocates: !STRING_FUNCTIONS.contains(&group),
        allocations: None,
        kind: Kind::Timed {
            args: args.iter().map(|a| a.to_string()).collect(),
        },
    }
}

fn workloads(quick: bool) -> Vec<Workload> {
    let mut list = Vec::new();
    let threads: &[usize] = if quick {
        &[1, 8, 16]
    } else {
        &[1, 2, 4, 8, 16]
    };
    let scale = if quick { 20_000 } else { 500_000 };
    for (size, min, max, ops) in [
        // Enough operations that even the fastest variant runs for tenths of
        // a second: startup and thread creation stay out of the comparison.
        ("small", 16, 512, scale * 4),
        ("medium", 4 << 10, 64 << 10, scale / 5),
        ("large", 128 << 10, 512 << 10, scale / 100),
    ] {
        for &t in threads {
            let args = [t, ops, min, max].map(|n| n.to_string());
            let mut churn = timed(
                format!("churn {size} x{t}"),
                &format!("churn {size}"),
                t,
                &["churn", &args[0], &args[1], &args[2], &args[3]],
            );
            churn.allocations = Some((t * ops) as u64);
            list.push(churn);
        }
    }
    for (name, cmd) in [
        ("producer/consumer", "prodcons"),
        ("realloc growth", "realloc"),
    ] {
        list.push(timed(
            format!("{name} x8"),
            name,
            8,
            &[cmd, "8", &scale.to_string()],
        ));
    }
    let (docs, buffers) = if quick {
        (2_000, 200)
    } else {
        (100_000, 20_000)
    };
    for t in [1, 8] {
        let threads = t.to_string();
        list.push(timed(
            format!("rayon JSON x{t}"),
            "rayon JSON",
            t,
            &["json", &threads, &docs.to_string()],
        ));
        list.push(timed(
            format!("zstd from C x{t}"),
            "zstd from C",
            t,
            &["zstd", &threads, &buffers.to_string()],
        ));
    }
    let http_threads: &[usize] = if quick { &[8] } else { &[2, 8] };
    for &t in http_threads {
        list.push(Workload {
            name: format!("HTTP server x{t}"),
            group: "HTTP server".into(),
            threads: t,
            allocates: true,
            allocations: None,
            kind: Kind::Http {
                connections: 32,
                millis: if quick { 1_000 } else { 5_000 },
                idle_ms: vec![100, 1_000],
            },
        });
    }
    list.extend(memory_workloads(quick));
    // Zeroed allocations: calloc, whose zeroing is libc's memset.
    for &t in if quick { &[1usize][..] } else { &[1, 8][..] } {
        let ops = (scale * 4).to_string();
        let mut zeroed = timed(
            format!("zeroed churn x{t}"),
            "zeroed churn",
            t,
            &["zchurn", &t.to_string(), &ops, "16", "528"],
        );
        zeroed.allocations = Some((t * scale * 4) as u64);
        list.push(zeroed);
    }
    let sizes: &[usize] = if quick {
        &[64, 64 << 10]
    } else {
        &[16, 64, 256, 1 << 10, 4 << 10, 64 << 10, 1 << 20]
    };
    for function in STRING_FUNCTIONS {
        for &size in sizes {
            // A few tenths of a second per run on this kind of machine:
            // small sizes are bound by calls, large ones by bandwidth.
            let bytes: u64 = match (quick, size) {
                (true, _) => 16 << 20,
                (false, 0..=16) => 1 << 30,
                (false, 17..=64) => 4 << 30,
                (false, _) => 16 << 30,
            };
            list.push(timed(
                format!("{function} {}", size_label(size)),
                function,
                1,
                &["string", function, &size.to_string(), &bytes.to_string()],
            ));
        }
    }
    list
}

/// Workloads whose first result is memory: a burst freed then idle (RSS
/// while the program sleeps), a burst into fresh memory (timed: first
/// faults, huge pages where asked for), hello worlds, and bursts of
/// shifting sizes under a cgroup memory limit that glibc fits in (its peak
/// there, measured: 236 MB of the 256 MiB in the full run).
fn memory_workloads(quick: bool) -> Vec<Workload> {
    let (mb, idle_ms): (usize, &[u64]) = if quick {
        (50, &[100, 1_000])
    } else {
        (200, &[100, 1_000, 5_000])
    };
    let megabytes = mb.to_string();
    let mut idle_args = vec!["idle".to_owned(), "4".into(), megabytes.clone()];
    idle_args.extend(idle_ms.iter().map(u64::to_string));
    let mut list = vec![Workload {
        name: format!("burst {mb} MB then idle x4"),
        group: "burst then idle".into(),
        threads: 4,
        allocates: true,
        allocations: None,
        kind: Kind::Idle { args: idle_args },
    }];
    for t in [1, 4] {
        list.push(timed(
            format!("fresh burst {mb} MB x{t}"),
            "fresh burst",
            t,
            &["fresh", &t.to_string(), &megabytes],
        ));
    }
    for (name, c) in [("hello world (Rust)", false), ("hello world (C)", true)] {
        list.push(Workload {
            name: name.into(),
            group: "hello world".into(),
            threads: 1,
            allocates: false,
            allocations: None,
            kind: Kind::Hello { c },
        });
    }
    let (rounds, limit_mib) = if quick { (3, 80) } else { (6, 256) };
    list.push(Workload {
        name: format!("phases {mb} MB x4 under {limit_mib} MiB"),
        group: "under a memory limit".into(),
        threads: 4,
        allocates: true,
        allocations: None,
        kind: Kind::Limited {
            args: ["phases", "4", &megabytes, &rounds.to_string()]
                .map(str::to_owned)
                .to_vec(),
            limit_mib,
        },
    });
    list
}

/// 16 B, 1 KiB, 64 KiB, 1 MiB.
fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

pub fn run(quick: bool, mirror: Option<PathBuf>) -> Result<PathBuf> {
    let out = project_root().join("target/bench");
    let sysroots = FastmuslSysroots::build(mirror, default_sysroot_root(), Vec::new())?;
    let report = measure(&Variant::ALL, &sysroots, &workloads(quick), quick, &out)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let markdown = report.markdown();
    std::fs::write(out.join("report.md"), &markdown)?;
    plot::churn_throughput(&report, &out.join("churn-throughput.png"))?;
    print!("{markdown}");
    Ok(out)
}

/// `cargo xtask bench --secure-levels`: fastmusl alone, at each of
/// mimalloc's secure levels 0–4, over the workloads that allocate, so the
/// cost of each level's checks is measured rather than guessed. Levels 1–3
/// are built for this only, as flavors of sysroots under
/// target/bench/sysroots/. Output: target/bench/secure-levels.{json,md}.
pub fn secure_levels(quick: bool, mirror: Option<PathBuf>) -> Result<PathBuf> {
    let out = project_root().join("target/bench");
    let study_flavors = Variant::SECURE_LEVELS
        .iter()
        .filter(|v| Variant::ALL.iter().all(|shipped| shipped != *v))
        .map(|v| FlavorRow {
            name: v.flavor().expect("a fastmusl variant").to_owned(),
            summary: format!("{} (bench study only)", v.name()),
            mimalloc_cflags: vec![format!(
                "-DMI_SECURE={}",
                v.secure_level().expect("a fastmusl variant")
            )],
        })
        .collect();
    let sysroots = FastmuslSysroots::build(mirror, out.join("sysroots"), study_flavors)?;
    let allocating = allocating_workloads(quick);
    let report = measure(&Variant::SECURE_LEVELS, &sysroots, &allocating, quick, &out)?;
    write_study(
        &out,
        "secure-levels",
        &report,
        &secure_levels::markdown(&report),
    )?;
    Ok(out)
}

/// The workloads that allocate: what the detection studies time.
fn allocating_workloads(quick: bool) -> Vec<Workload> {
    workloads(quick)
        .into_iter()
        .filter(|w| w.allocates)
        .collect()
}

/// A study's report as `out/<stem>.json` and its table as `out/<stem>.md`,
/// the table printed too.
fn write_study(out: &Path, stem: &str, report: &Report, markdown: &str) -> Result<()> {
    std::fs::write(
        out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(out.join(format!("{stem}.md")), markdown)?;
    print!("{markdown}");
    Ok(())
}

/// `cargo xtask bench --free-checks`: each flavor against itself built
/// without its checks at every free, and at each level between, over the
/// workloads that allocate (see `free_checks`). The study flavors are built
/// under target/bench/sysroots/. Output: target/bench/free-checks.{json,md}.
pub fn free_checks(quick: bool, mirror: Option<PathBuf>) -> Result<PathBuf> {
    let out = project_root().join("target/bench");
    let study_flavors = free_checks::flavors(&PlatformTable::project()?.flavor)?;
    let sysroots = FastmuslSysroots::build(mirror, out.join("sysroots"), study_flavors)?;
    let allocating = allocating_workloads(quick);
    // One rotation per flavor: a variant run right after the secure
    // flavor's (whose huge blocks are mapped and unmapped each time) found
    // the kernel's free memory fragmented and ran large-block churn 3-8x
    // slower, whatever its own code.
    let mut report = measure(
        &free_checks::DEFAULT_VARIANTS,
        &sysroots,
        &allocating,
        quick,
        &out,
    )?;
    let secure = measure(
        &free_checks::SECURE_VARIANTS,
        &sysroots,
        &allocating,
        quick,
        &out,
    )?;
    report.merge(secure);
    write_study(
        &out,
        "free-checks",
        &report,
        &free_checks::markdown(&report),
    )?;
    Ok(out)
}

/// `cargo xtask bench --memory-study`: fastmusl with each of the footprint
/// study's points as its defaults (`memory_study::POINTS`, built as
/// study-only flavors in sysroots under target/bench/sysroots/), beside
/// glibc, the ceiling and the shipped default flavor, over the workloads
/// that allocate and the memory ones; `points` (flavor names) narrows it to
/// those points and today. Output: target/bench/memory-study.{json,md} and
/// memory-study.png, the Pareto plot of time against peak RSS.
pub fn memory_study(quick: bool, mirror: Option<PathBuf>, points: &[String]) -> Result<PathBuf> {
    let points = memory_study::select(points)?;
    let out = project_root().join("target/bench");
    let sysroots =
        FastmuslSysroots::build(mirror, out.join("sysroots"), memory_study::flavors(&points))?;
    let studied: Vec<Workload> = workloads(quick)
        .into_iter()
        .filter(|w| w.allocates || w.memory_only())
        .collect();
    let report = measure(
        &memory_study::variants(&points),
        &sysroots,
        &studied,
        quick,
        &out,
    )?;
    std::fs::write(
        out.join("memory-study.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let markdown = memory_study::markdown(&report);
    std::fs::write(out.join("memory-study.md"), &markdown)?;
    memory_study::pareto_plot(&report, &out.join("memory-study.png"))?;
    print!("{markdown}");
    Ok(out)
}

/// The host's fastmusl sysroots, one per flavor the variants link against.
struct FastmuslSysroots {
    out_root: PathBuf,
    by_flavor: std::collections::BTreeMap<String, Sysroot>,
}

impl FastmuslSysroots {
    fn build(mirror: Option<PathBuf>, out_root: PathBuf, extra: Vec<FlavorRow>) -> Result<Self> {
        let mut flavors: Vec<String> = PlatformTable::project()?
            .flavor
            .into_iter()
            .map(|f| f.name)
            .collect();
        flavors.extend(extra.iter().map(|f| f.name.clone()));
        build_or_reuse(&SysrootRequest {
            triple: HOST_MUSL.parse()?,
            mirror,
            out_root: out_root.clone(),
            extra_flavors: extra,
        })?;
        let by_flavor = flavors
            .into_iter()
            .map(|f| {
                let sysroot = Sysroot::open(&sysroot_dir(&out_root, &f, HOST_MUSL))?;
                Ok((f, sysroot))
            })
            .collect::<Result<_>>()?;
        Ok(FastmuslSysroots {
            out_root,
            by_flavor,
        })
    }

    /// The sysroot of `flavor`.
    fn for_flavor(&self, flavor: &str) -> Result<&Sysroot> {
        self.by_flavor
            .get(flavor)
            .with_context(|| format!("no {flavor} sysroot under {}", self.out_root.display()))
    }
}

/// Builds and checks each variant, then runs every workload: a warm-up per
/// variant, then rounds that run each variant once in turn.
fn measure(
    variants: &[Variant],
    sysroots: &FastmuslSysroots,
    workloads: &[Workload],
    quick: bool,
    out: &Path,
) -> Result<Report> {
    std::fs::create_dir_all(out)?;
    let pins = SourcePins::load(&project_root().join("sysroots/sources.toml"))?;
    if workloads
        .iter()
        .any(|w| matches!(w.kind, Kind::Limited { .. }))
    {
        cgroup::MemoryCgroup::available().context(
            "the bench runs a workload under a cgroup memory limit; run it as root on a host \
             with the memory controller",
        )?;
    }
    let mut binaries = Vec::new();
    let mut infos = Vec::new();
    for &variant in variants {
        let workloads_binary = build_variant(variant, "alloc-workloads", sysroots, out)?;
        infos.push(VariantInfo {
            name: variant.name().to_owned(),
            allocator: check_allocator(variant, &workloads_binary, &pins.mimalloc.version)?,
            stripped_size_bytes: stripped_size(&workloads_binary)?,
        });
        binaries.push(VariantBinaries {
            variant,
            hello: build_variant(variant, "hello", sysroots, out)?,
            c_hello: memory::c_hello(variant, sysroots, out)?,
            workloads: workloads_binary,
        });
    }
    // One load generator for all: only the server's allocator varies.
    let load_generator = binaries[0].workloads.clone();
    let runs = if quick { 1 } else { 5 };
    let mut measurements = Vec::new();
    for workload in workloads {
        eprintln!("bench: {}", workload.name);
        // The variants this workload runs on: the C hello world has none
        // for the mimalloc-crate variants.
        let runnable: Vec<&VariantBinaries> = binaries
            .iter()
            .filter(|b| !matches!(workload.kind, Kind::Hello { c: true }) || b.c_hello.is_some())
            .collect();
        let run_once = |binaries: &VariantBinaries| -> Result<Run> {
            let binary = &binaries.workloads;
            match &workload.kind {
                Kind::Timed { args } => Ok(timed_run(binary, args)?.0),
                Kind::Idle { args } => memory::idle_run(binary, args),
                Kind::Hello { c: false } => memory::hello_run(&binaries.hello),
                Kind::Hello { c: true } => {
                    memory::hello_run(binaries.c_hello.as_deref().context("no C hello world")?)
                }
                Kind::Limited { args, limit_mib } => memory::limited_run(binary, args, *limit_mib),
                Kind::Http {
                    connections,
                    millis,
                    idle_ms,
                } => {
                    let (run, rss_kib) = http::run(
                        binary,
                        &load_generator,
                        workload.threads,
                        *connections,
                        *millis,
                        idle_ms,
                    )?;
                    Ok(Run {
                        peak_rss_kib: run.peak_rss_kib,
                        http: Some(run),
                        rss_kib,
                        ..Run::default()
                    })
                }
            }
        };
        for binaries in &runnable {
            run_once(binaries)?; // warm-up
        }
        let mut results: Vec<Vec<Run>> = vec![Vec::new(); runnable.len()];
        for _ in 0..runs {
            for (i, binaries) in runnable.iter().enumerate() {
                results[i].push(run_once(binaries)?);
            }
        }
        for (binaries, runs) in runnable.iter().zip(&results) {
            measurements.push(Measurement::new(workload, binaries.variant, runs));
        }
    }
    Ok(Report {
        machine: machine(),
        kernel_thp: kernel_thp(),
        quick,
        runs_per_variant: runs,
        variants: infos,
        measurements,
    })
}

/// What one variant runs: the workloads program, the Rust hello world, and
/// the C hello world where the variant has its own C allocator.
struct VariantBinaries {
    variant: Variant,
    workloads: PathBuf,
    hello: PathBuf,
    c_hello: Option<PathBuf>,
}

/// Writes report.md and churn-throughput.png again, beside `report_json`,
/// from the measurements in it: a change to the tables or the plot need
/// not cost another full run.
pub fn rewrite(report_json: &Path) -> Result<()> {
    let text = std::fs::read_to_string(report_json)
        .with_context(|| format!("reading {}", report_json.display()))?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bench report", report_json.display()))?;
    let dir = report_json.parent().unwrap_or(Path::new("."));
    std::fs::write(dir.join("report.md"), report.markdown())?;
    plot::churn_throughput(&report, &dir.join("churn-throughput.png"))
}

/// Builds `bin` (`alloc-workloads` or `hello`) of the workloads crate as
/// `variant` and copies it to `out/bin/<slug>/`.
///
/// Every variant builds in one cargo target directory, and the musl ones
/// compile alike, so each dependency is compiled once per target: their C
/// goes through the default flavor's C wrapper (rustup's musl has no C
/// compiler here, and the flavors share headers and flags; only libc.a
/// differs), and a fastmusl variant hands its sysroot's linker to the final
/// link alone (`cargo rustc -- -C linker=…`). That link is what
/// `target.<triple>.linker` gives a user's build; set that way, cargo would
/// recompile every crate for each new linker path.
fn build_variant(
    variant: Variant,
    bin: &str,
    sysroots: &FastmuslSysroots,
    out: &Path,
) -> Result<PathBuf> {
    let src = project_root().join("xtask/bench/alloc-workloads");
    let target_dir = out.join("build");
    let mut cmd = rust_std::cargo();
    cmd.current_dir(&src)
        .args([
            "rustc",
            "--release",
            "--locked",
            "--bin",
            bin,
            "--target",
            variant.target(),
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if variant.mimalloc_crate() {
        cmd.args(["--features", "mimalloc"]);
    }
    if variant.target() == HOST_MUSL {
        sysroots
            .for_flavor(fastmusl_dist::flavor::DEFAULT)?
            .set_c_toolchain_env(&mut cmd);
    }
    if let Some(flavor) = variant.flavor() {
        let sysroot = sysroots.for_flavor(flavor)?;
        // The sysroot's fingerprint as a cfg: cargo relinks when the
        // sysroot was rebuilt in place, which the linker path alone does
        // not tell it (a stale binary would carry the old libc.a).
        cmd.arg("--")
            .arg("-C")
            .arg(format!("linker={}", sysroot.tools.linker.display()))
            .arg("--cfg")
            .arg(format!(
                "fastmusl_sysroot=\"{}\"",
                sysroot.record.inputs_sha256
            ));
    }
    let output = cmd.output().context("running cargo")?;
    if !output.status.success() {
        bail!(
            "building {bin} as the {} variant failed:\n{}",
            variant.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let built = target_dir.join(variant.target()).join("release").join(bin);
    let binary = out.join("bin").join(variant.slug()).join(bin);
    std::fs::create_dir_all(binary.parent().expect("a file in a directory"))?;
    std::fs::copy(&built, &binary).with_context(|| format!("copying {}", built.display()))?;
    Ok(binary)
}

/// The binary must contain the allocator it claims: fastmusl prints its
/// libc's mimalloc banner (of the pinned version), the mimalloc-crate
/// variants a banner of the crate's mimalloc, glibc and stock musl none.
/// Returns the allocator, for the report.
fn check_allocator(variant: Variant, binary: &Path, pinned_mimalloc: &str) -> Result<String> {
    let output = Command::new(binary)
        .args(["churn", "1", "1000", "16", "64"])
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let banner = mimalloc_banner(&stderr);
    let version = banner.and_then(|b| b.split_whitespace().next());
    let secure_level = stderr
        .lines()
        .find_map(|l| l.strip_prefix("secure level: "))
        .and_then(|l| l.trim().parse::<u32>().ok());
    let allocator = match (variant, version) {
        (Variant::Glibc, None) => Some("glibc malloc".to_owned()),
        (Variant::StockMusl, None) => Some("musl mallocng".to_owned()),
        (Variant::GlibcMimalloc | Variant::StockMuslMimalloc, Some(v)) => {
            Some(format!("mimalloc {v} (mimalloc crate)"))
        }
        (_, Some(v))
            if variant.flavor().is_some()
                && v == format!("v{pinned_mimalloc}")
                && secure_level == variant.secure_level() =>
        {
            let flavor = variant.flavor().unwrap_or_default();
            let level = secure_level.map_or("?".to_owned(), |l| l.to_string());
            Some(format!(
                "mimalloc {v} (in libc, {flavor} flavor: secure level {level})"
            ))
        }
        _ => None,
    };
    match allocator {
        Some(allocator) if output.status.success() => Ok(allocator),
        _ => bail!(
            "the {} binary does not run with the allocator it claims (banner: {banner:?})",
            variant.name()
        ),
    }
}

/// The binary's size with its symbol table stripped too (`llvm-strip`, from
/// the llvm package the sysroot build needs anyway).
fn stripped_size(binary: &Path) -> Result<u64> {
    let stripped = binary.with_extension("stripped");
    let status = Command::new("llvm-strip")
        .arg("-o")
        .arg(&stripped)
        .arg(binary)
        .status()
        .context("running llvm-strip (install llvm)")?;
    if !status.success() {
        bail!("llvm-strip {} failed ({status})", binary.display());
    }
    Ok(std::fs::metadata(&stripped)?.len())
}

/// The value a workload program reported as `name=value` (among
/// whitespace-separated words or on a line of its own).
fn reported<T: std::str::FromStr>(text: &str, name: &str) -> Option<T> {
    text.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
}

/// Wall time and peak RSS (KiB, the program's own VmHWM) of one run, and
/// what the program printed on stderr.
fn timed_run(binary: &Path, args: &[String]) -> Result<(Run, String)> {
    let started = Instant::now();
    let output = Command::new(binary).args(args).output()?;
    let wall_s = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{} {args:?} failed ({}): {stderr}",
            binary.display(),
            output.status
        );
    }
    let peak_rss_kib = reported(&stderr, "peak_rss_kib")
        .with_context(|| format!("{} printed no peak_rss_kib", binary.display()))?;
    let run = Run {
        wall_s,
        peak_rss_kib,
        ..Run::default()
    };
    Ok((run, stderr.into_owned()))
}

/// The kernel's transparent huge page settings, as "enabled=madvise
/// defrag=madvise" (the bracketed choice of each sysfs file), if it has THP.
pub fn kernel_thp() -> Option<String> {
    let setting = |file: &str| -> Option<String> {
        let text =
            std::fs::read_to_string(format!("/sys/kernel/mm/transparent_hugepage/{file}")).ok()?;
        let chosen = text.split_whitespace().find(|w| w.starts_with('['))?;
        Some(format!("{file}={}", chosen.trim_matches(['[', ']'])))
    };
    Some(format!("{} {}", setting("enabled")?, setting("defrag")?))
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
