//! Rust programs built with `cargo build --target T` against each sysroot
//! (through a project-level cargo config, never the developer's own) and
//! run natively or under qemu: the binary is static, for the right machine,
//! and mimalloc inside libc served it.

mod common;

use std::time::Duration;

use common::{TARGETS, run_ok, stderr_of, stdout_of, sysroot};
use xtask::fixture::{ElfFacts, build_fixture, mimalloc_banner};

fn expected_machine(triple: &str) -> u16 {
    match triple.split('-').next() {
        Some("x86_64") => 62,
        Some("aarch64") => 183,
        other => panic!("no ELF machine known for {other:?}"),
    }
}

/// Builds `fixture` for every target, checks the binary is static, runs it
/// with mimalloc's verbose output and returns (stdout, stderr) per target.
fn build_and_run(fixture: &str) -> Vec<(String, String, String)> {
    let mut results = Vec::new();
    for triple in TARGETS {
        let s = sysroot(triple);
        let binary = build_fixture(s, fixture).unwrap_or_else(|e| panic!("{e:#}"));
        let elf = ElfFacts::read(&binary).unwrap();
        assert!(
            !elf.has_interpreter,
            "{triple}: {fixture} is dynamically linked"
        );
        assert_eq!(elf.machine, expected_machine(triple), "{triple}: {fixture}");
        let out = run_ok(
            s,
            &binary,
            &[],
            &[("MIMALLOC_VERBOSE", "1")],
            Duration::from_secs(300),
        );
        results.push((triple.to_owned(), stdout_of(&out), stderr_of(&out)));
    }
    results
}

#[test]
fn a_multithreaded_rust_program_is_served_by_mimalloc() {
    for (triple, stdout, stderr) in build_and_run("alloc-churn") {
        assert!(
            stdout.starts_with("alloc-churn: 8 threads"),
            "{triple}: {stdout}"
        );
        let banner = mimalloc_banner(&stderr)
            .unwrap_or_else(|| panic!("{triple}: no mimalloc banner:\n{stderr}"));
        assert!(banner.starts_with("v3.4.3"), "{triple}: {banner}");
    }
}

#[test]
fn rust_and_c_from_the_cc_crate_share_one_allocator() {
    for (triple, stdout, stderr) in build_and_run("c-alloc") {
        assert!(
            stdout.starts_with("c-alloc: 20000 blocks crossed between C and Rust; ALG_SET_KEY = 1"),
            "{triple}: {stdout}"
        );
        assert!(
            mimalloc_banner(&stderr).is_some(),
            "{triple}: no mimalloc banner:\n{stderr}"
        );
    }
}

/// libc.a's mimalloc is private, so a program that links the `mimalloc`
/// crate as well gets no duplicate symbols; both allocators run, each with
/// its own banner under MIMALLOC_VERBOSE.
#[test]
fn a_program_with_its_own_mimalloc_links_and_runs() {
    for (triple, stdout, stderr) in build_and_run("own-mimalloc") {
        assert!(stdout.starts_with("own-mimalloc: "), "{triple}: {stdout}");
        assert!(mimalloc_banner(&stderr).is_some(), "{triple}: {stderr}");
    }
}
