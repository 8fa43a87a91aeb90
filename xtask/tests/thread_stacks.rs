//! Threads created without a stack size (C and C++ libraries start them
//! so): with fastmusl they get 2 MiB, as Rust's own threads do
//! (patches/musl/0005), where stock musl gives 128 KiB and glibc the stack
//! rlimit. tests/c/thread_stacks.c, built with glibc, stock musl 1.2.6 and
//! fastmusl, on x86_64 and aarch64 (qemu):
//!
//! - a thread that recurses through 1 MiB of stack runs with glibc and
//!   fastmusl and dies with stock musl;
//! - one that recurses through 3 MiB dies with fastmusl on its guard page
//!   (a SIGSEGV, not a silent overwrite);
//! - 1,000 idle threads add within 5% of the resident memory they add
//!   with stock musl: the stacks are mapped, not touched.

mod common;

use std::ffi::OsString;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{AARCH64, X86_64, c_test_source, compile_c, run_with_timeout, sysroot};

struct Programs {
    glibc: Vec<OsString>,
    stock: Vec<OsString>,
    fastmusl: Vec<OsString>,
}

fn programs(triple: &str) -> Programs {
    let sysroot = sysroot(triple);
    let source = c_test_source("thread_stacks.c");
    Programs {
        glibc: common::glibc_program(sysroot, "thread_stacks", &source),
        stock: common::argv_for(
            sysroot,
            common::compile_c_stock(sysroot, "thread_stacks", &source),
        ),
        fastmusl: common::argv_for(
            sysroot,
            compile_c(sysroot, "thread_stacks", std::slice::from_ref(&source), &[]),
        ),
    }
}

fn run(argv: &[OsString], args: &[&str]) -> Output {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(cmd, Duration::from_secs(120)).unwrap()
}

fn field(output: &Output, name: &str) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
}

fn died_of_sigsegv(output: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    output.status.signal() == Some(11)
}

/// Resident memory (KiB) with no thread and with 1,000 idle threads, and
/// the default stack size (KiB).
fn idle(argv: &[OsString]) -> (u64, u64, u64) {
    let rss = |threads: &str| {
        let out = run(argv, &["idle", threads]);
        assert!(out.status.success(), "{argv:?}: {out:?}");
        (field(&out, "rss_kib"), field(&out, "stack_kib"))
    };
    let (none, stack) = rss("0");
    let (thousand, _) = rss("1000");
    (none, thousand, stack)
}

#[test]
fn a_thread_without_a_stack_size_gets_two_mib_and_idle_threads_cost_what_they_did() {
    for triple in [X86_64, AARCH64] {
        let p = programs(triple);
        let ok = |o: &Output| o.status.success() && String::from_utf8_lossy(&o.stdout) == "ok\n";

        let glibc = run(&p.glibc, &["deep", "1024"]);
        let stock = run(&p.stock, &["deep", "1024"]);
        let fastmusl = run(&p.fastmusl, &["deep", "1024"]);
        assert!(ok(&glibc), "glibc {triple}: {glibc:?}");
        assert!(died_of_sigsegv(&stock), "stock musl {triple}: {stock:?}");
        assert!(ok(&fastmusl), "fastmusl {triple}: {fastmusl:?}");
        let beyond = run(&p.fastmusl, &["deep", "3072"]);
        assert!(
            died_of_sigsegv(&beyond),
            "fastmusl {triple}, 3 MiB: {beyond:?}"
        );

        // What 1,000 threads add: fastmusl's mimalloc has a larger
        // baseline, which is not the stacks'.
        let (glibc_none, glibc_rss, glibc_stack) = idle(&p.glibc);
        let (stock_none, stock_rss, stock_stack) = idle(&p.stock);
        let (fastmusl_none, fastmusl_rss, fastmusl_stack) = idle(&p.fastmusl);
        let stock_threads = stock_rss - stock_none;
        let fastmusl_threads = fastmusl_rss - fastmusl_none;
        eprintln!(
            "{triple}: resident with 0 and 1000 idle threads: glibc {glibc_none}/{glibc_rss} KiB \
             ({glibc_stack} KiB stacks), stock musl {stock_none}/{stock_rss} KiB \
             ({stock_stack} KiB), fastmusl {fastmusl_none}/{fastmusl_rss} KiB \
             ({fastmusl_stack} KiB); what the threads add, fastmusl/stock: {:.3}",
            fastmusl_threads as f64 / stock_threads as f64
        );
        assert_eq!(stock_stack, 128);
        assert_eq!(fastmusl_stack, 2048);
        assert!(
            (fastmusl_threads as f64) <= 1.05 * stock_threads as f64,
            "{triple}: 1000 threads add {fastmusl_threads} KiB with fastmusl, \
             {stock_threads} KiB with stock musl"
        );
    }
}
