//! What the allocator gives back (`c/footprint.c`, the default flavor's
//! footprint defaults from patches/mimalloc/0003-0005 and
//! sysroots/targets.toml): after a burst the idle purger returns memory
//! while every thread idles; it survives fork from a busy multithreaded
//! parent on every target; a program that fits a cgroup memory limit under
//! glibc fits under fastmusl in both flavors (x86_64 and i686 natively,
//! aarch64 under qemu). Each check has a control that shows it can fail.

mod common;

use std::{os::unix::process::ExitStatusExt, process::Command, time::Duration};

use common::{
    AARCH64, I686, X86_64, c_test_source, compile_c, for_each_of, for_each_target, run, run_ok,
    stdout_of, sysroot, sysroot_in,
};
use fastmusl_dist::flavor;
use xtask::bench::cgroup::{LimitedRun, MemoryCgroup};

/// mimalloc 3.4.3's own defaults, which the default flavor's replace: what
/// the controls run with (MIMALLOC_* override the built-in defaults).
const UPSTREAM_DEFAULTS: [(&str, &str); 6] = [
    ("MIMALLOC_PURGE_DELAY", "1000"),
    ("MIMALLOC_ALLOW_THP", "1"),
    ("MIMALLOC_THP_AFTER", "0"),
    ("MIMALLOC_PAGE_RETIRE_LARGE", "1"),
    ("MIMALLOC_IDLE_PURGE", "0"),
    ("MIMALLOC_LIMIT_AWARE", "0"),
];

/// A 64 MB burst over 4 threads, freed, threads alive and idle: with the
/// default flavor's idle purger RSS must fall to 85% of what it was with
/// the burst allocated, within 2 s (natively: under qemu-user, RSS is
/// qemu's own). The control, without the idle purger, keeps the burst
/// resident. (Measured on x86_64, RSS in MB with the burst -> after it:
/// THP as mimalloc asks, 144-158 -> 101-115 (at most 73%), the control
/// 148 -> 148; THP off, 70 -> 28-35; THP off and no retired pages, 6,
/// `cargo xtask bench --memory-study`.)
#[test]
fn the_idle_purger_returns_a_freed_burst_while_threads_idle() {
    for_each_of(&[X86_64], |triple| {
        let s = sysroot(triple);
        let bin = compile_c(s, "footprint_idle", &[c_test_source("footprint.c")], &[]);
        let args = ["idle", "64", "85", "2000"];
        let out = run_ok(s, &bin, &args, &[], Duration::from_secs(60));
        assert!(
            stdout_of(&out).starts_with("ok idle"),
            "{}",
            stdout_of(&out)
        );

        let control = run(
            s,
            &bin,
            &args,
            &[("MIMALLOC_IDLE_PURGE", "0")],
            Duration::from_secs(60),
        );
        assert!(
            !control.status.success() && stdout_of(&control).starts_with("FAIL idle"),
            "without the idle purger the burst should stay resident: {}",
            stdout_of(&control)
        );
    });
}

/// Forks while 4 threads burst and free, so that purges fall due and the
/// purger runs across forks; every child bursts, frees and exits 0. Fewer
/// forks under qemu-user, where each fork of a threaded process is slow.
#[test]
fn the_idle_purger_survives_fork_from_a_busy_multithreaded_parent() {
    for_each_target(|triple| {
        let s = sysroot(triple);
        let bin = compile_c(s, "footprint_fork", &[c_test_source("footprint.c")], &[]);
        let forks = if s.platform.is_foreign() { "40" } else { "300" };
        let out = run_ok(s, &bin, &["fork", forks], &[], Duration::from_secs(300));
        assert!(
            stdout_of(&out).starts_with(&format!("ok {forks} forks")),
            "{triple}: {}",
            stdout_of(&out)
        );
    });
}

/// Four rounds of 50 MB bursts (`footprint phases`).
const PHASES: [&str; 3] = ["phases", "50", "4"];

/// Bursts of 50 MB in shifting sizes, 4 rounds, under an 80 MiB cgroup
/// limit without swap: glibc's build of the same program fits (checked
/// first, so the limit is one glibc survives), and so must fastmusl's, in
/// both flavors. Under qemu the limit grows by what qemu itself holds for
/// the same program without the bursts. Natively, the control with
/// mimalloc's own option defaults (no limit awareness: purges on their 1 s
/// delay, THP on all the way to the limit) is OOM-killed. (Measured on
/// x86_64, 5 runs each: glibc peaks at 54-55 MiB, the default flavor at
/// 56-69, the secure flavor at 61-67; with THP withdrawn from a quarter
/// of the limit and no bound on freed memory waiting for its purge, the
/// default flavor peaked at 71-76 MiB; before the limit withdrew THP and
/// with 4 MiB large pages, killed in 3 of 3.)
#[test]
fn a_program_that_fits_a_memory_limit_under_glibc_fits_under_fastmusl() {
    if let Err(e) = MemoryCgroup::available() {
        panic!("this test needs a cgroup memory limit (root, memory controller): {e:#}");
    }
    const LIMIT: u64 = 80 << 20;
    let glibc = std::env::temp_dir().join(format!("footprint-glibc-{}", std::process::id()));
    let status = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&glibc)
        .arg(c_test_source("footprint.c"))
        .status()
        .expect("running cc");
    assert!(status.success(), "cc footprint.c (glibc) failed");
    let mut cmd = Command::new(&glibc);
    cmd.args(PHASES);
    let (reference, _) = under_limit(&cmd, LIMIT);
    let _ = std::fs::remove_file(&glibc);
    assert!(
        !reference.oom_killed,
        "glibc must fit the limit for the test to mean anything: {reference:?}"
    );

    // i686 too: a 32-bit target, natively here, where the limit's "none"
    // bound was once undefined behaviour and the limit went unread
    // (patches/mimalloc/0005).
    for_each_of(&[X86_64, AARCH64, I686], |triple| {
        for flavor in [flavor::DEFAULT, "secure"] {
            fits_under_limit(triple, flavor, LIMIT, reference.max_usage_kib);
        }
    });
}

/// The check above for one flavor of one target: not OOM-killed under
/// `limit` (plus what qemu holds), and natively, for the default flavor,
/// the control with mimalloc's own defaults is.
fn fits_under_limit(triple: &str, flavor: &str, limit: u64, glibc_peak_kib: u64) {
    let s = sysroot_in(triple, flavor);
    let bin = compile_c(
        s,
        &format!("footprint_limit_{flavor}"),
        &[c_test_source("footprint.c")],
        &[],
    );
    let emulator_kib = if s.platform.is_foreign() {
        let mut idle = s.command_for(&bin);
        idle.args(["phases", "1", "1"]);
        under_limit(&idle, 1 << 40).0.max_usage_kib
    } else {
        0
    };
    let limit = limit + (emulator_kib << 10);
    let mut cmd = s.command_for(&bin);
    cmd.args(PHASES);
    let (ours, stdout) = under_limit(&cmd, limit);
    assert!(
        !ours.oom_killed && stdout.starts_with("ok phases"),
        "{triple} ({flavor}): OOM-killed under {} MiB where glibc peaked at {} MiB: {ours:?} {stdout}",
        limit >> 20,
        glibc_peak_kib >> 10
    );
    if s.platform.is_foreign() {
        return;
    }
    // The allocator read the limit (mimalloc's verbose start-up says so):
    // what a 32-bit target once failed to do, and still fitted by chance.
    let mut verbose = s.command_for(&bin);
    verbose
        .args(["phases", "1", "1"])
        .env("MIMALLOC_VERBOSE", "1");
    let group = MemoryCgroup::create("fastmusl-test", limit).unwrap_or_else(|e| panic!("{e:#}"));
    let (_, _, stderr, _) = group
        .run_command(&verbose)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let read = format!("cgroup memory limit: {} MiB", limit >> 20);
    assert!(
        stderr.contains(&read),
        "{triple} ({flavor}): mimalloc did not report `{read}`:\n{stderr}"
    );
    // On 64-bit targets, mimalloc's own defaults (THP to the limit, purges
    // on their 1 s delay) are OOM-killed there; on i686, where they were
    // measured to peak just under it (81116 of 81920 KiB), the check above
    // stands alone.
    if flavor == flavor::DEFAULT && s.platform.elf_bits == 64 {
        cmd.envs(UPSTREAM_DEFAULTS);
        let (control, _) = under_limit(&cmd, limit);
        assert!(
            control.oom_killed,
            "{triple}: mimalloc's own defaults were expected to be OOM-killed: {control:?}"
        );
    }
}

/// Runs `cmd` in a fresh cgroup limited to `limit` bytes; what the kernel
/// counted and the program's stdout. A failure other than the OOM killer's
/// fails the test.
fn under_limit(cmd: &Command, limit: u64) -> (LimitedRun, String) {
    let group = MemoryCgroup::create("fastmusl-test", limit).unwrap_or_else(|e| panic!("{e:#}"));
    let (status, stdout, stderr, limited) =
        group.run_command(cmd).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        status.success() || limited.oom_killed || status.signal() == Some(9),
        "{cmd:?} failed ({status}): {stdout}{stderr}"
    );
    (limited, stdout)
}
