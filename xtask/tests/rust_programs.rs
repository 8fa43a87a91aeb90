//! Rust programs built with `cargo build --target T` against each sysroot
//! (through a project-level cargo config, never the developer's own) and
//! run natively or under qemu: the binary is static, for the right machine,
//! and mimalloc inside libc served it.
//!
//! On the targets whose std is built from source here (`-Zbuild-std`: no
//! rust-std downloads for them on these machines), these fixtures are left
//! to the installer's end-to-end test, which builds alloc-churn and c-alloc
//! (and the crates.io `zstd` crate) for every target through the installed
//! wiring. Cargo fingerprints the config's `[env]` (the `CC_T` path), so
//! building them here as well, against the pipeline's sysroot, would build
//! std a second time per target: about a minute each on CI's two cores.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{X86_64, for_each_target, run_ok, stderr_of, stdout_of, sysroot, tail};
use fastmusl_dist::{elf::ElfFacts, rust_std::StdSource};
use xtask::{
    fixture::{Sysroot, build_fixture, mimalloc_banner},
    project_root,
};

/// Builds `fixture` for every target under test, checks the binary is
/// static, of the target's machine and class, runs it with mimalloc's
/// verbose output and hands (triple, stdout, stderr) to `check`.
fn build_and_run(fixture: &str, check: impl Fn(&str, &str, &str)) {
    for_each_target(|triple| {
        let s = sysroot(triple);
        let std = StdSource::for_target(triple, s.manifest.wiring.build_std_toolchain());
        if let StdSource::BuildStd { .. } = std {
            eprintln!(
                "{triple}: std is built from source here; installer/tests/install.rs builds the fixtures"
            );
            return;
        }
        let binary = build_fixture(s, fixture).unwrap_or_else(|e| panic!("{e:#}"));
        let elf = ElfFacts::read(&binary).unwrap();
        assert!(
            !elf.has_interpreter,
            "{triple}: {fixture} is dynamically linked"
        );
        assert_eq!(elf.machine, s.platform.elf_machine, "{triple}: {fixture}");
        assert_eq!(elf.bits(), s.platform.elf_bits, "{triple}: {fixture}");
        assert_eq!(
            elf.oci_platform().map(|p| p.to_string()).as_deref(),
            Some(s.platform.oci_platform.as_str()),
            "{triple}: {fixture}"
        );
        let out = run_ok(
            s,
            &binary,
            &[],
            &[("MIMALLOC_VERBOSE", "1")],
            Duration::from_secs(300),
        );
        check(triple, &stdout_of(&out), &stderr_of(&out));
    });
}

#[test]
fn a_multithreaded_rust_program_is_served_by_mimalloc() {
    build_and_run("alloc-churn", |triple, stdout, stderr| {
        assert!(
            stdout.starts_with("alloc-churn: 8 threads"),
            "{triple}: {stdout}"
        );
        let banner = mimalloc_banner(stderr)
            .unwrap_or_else(|| panic!("{triple}: no mimalloc banner:\n{stderr}"));
        assert!(banner.starts_with("v3.4.3"), "{triple}: {banner}");
    });
}

#[test]
fn rust_and_c_from_the_cc_crate_share_one_allocator() {
    build_and_run("c-alloc", |triple, stdout, stderr| {
        assert!(
            stdout.starts_with("c-alloc: 20000 blocks crossed between C and Rust; ALG_SET_KEY = 1"),
            "{triple}: {stdout}"
        );
        assert!(
            mimalloc_banner(stderr).is_some(),
            "{triple}: no mimalloc banner:\n{stderr}"
        );
    });
}

/// libc.a's mimalloc is private, so a program that links the `mimalloc`
/// crate as well gets no duplicate symbols; both allocators run, each with
/// its own banner under MIMALLOC_VERBOSE.
#[test]
fn a_program_with_its_own_mimalloc_links_and_runs() {
    build_and_run("own-mimalloc", |triple, stdout, stderr| {
        assert!(stdout.starts_with("own-mimalloc: "), "{triple}: {stdout}");
        assert!(mimalloc_banner(stderr).is_some(), "{triple}: {stderr}");
    });
}

/// A sysroot and a project under paths with a space (`/home/Jane Doe/…`),
/// linked through a response file: rustc falls back to one when the link
/// command line is too long for exec (E2BIG), writing it GNU-style with
/// spaces escaped. 25,000 extra `-L` arguments (2.5 MB, over Linux's 2 MiB
/// default) force that; the C of the `cc` crate goes through the moved C
/// wrapper. A stand-in rust-lld records that it got the response file and
/// runs the real one.
#[test]
fn a_sysroot_under_a_path_with_a_space_links_through_a_response_file() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let home = tempfile::tempdir().unwrap();
    let jane = home.path().join("Jane Doe");
    let moved = Sysroot::open(&copy_tree(&s.dir, &jane.join(".fastmusl/sysroot"))).unwrap();
    let project = copy_tree(
        &project_root().join("xtask/fixtures/c-alloc"),
        &jane.join("c alloc"),
    );
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(project.join(".cargo/config.toml"), moved.cargo_config()).unwrap();

    let rustflags = jane.join("many link args");
    let padding = "p".repeat(64);
    let args: String = (0..25_000)
        .map(|i| format!("-Clink-arg=-L{}/no where/{padding}{i}\n", jane.display()))
        .collect();
    std::fs::write(&rustflags, args).unwrap();
    let real_lld = rust_lld();
    let record = jane.join("lld-args");
    let recorder = jane.join("rust-lld");
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\nfor a do case $a in @*) echo \"$a\";; esac; done > '{}'\nexec '{}' \"$@\"\n",
            record.display(),
            real_lld.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&project)
        .args(["build", "--release", "--target", X86_64])
        // (RUSTFLAGS would split the path at its space.)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!("@{}", rustflags.display()),
        )
        .env("FASTMUSL_RUST_LLD", &recorder)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", tail(&stderr_of(&out), 40));
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert!(
        recorded.starts_with('@'),
        "rustc did not link through a response file: {recorded:?}"
    );
    let binary = project.join("target").join(X86_64).join("release/c-alloc");
    assert!(!ElfFacts::read(&binary).unwrap().has_interpreter);
    let ran = run_ok(
        &moved,
        &binary,
        &[],
        &[("MIMALLOC_VERBOSE", "1")],
        Duration::from_secs(60),
    );
    assert!(
        stdout_of(&ran).starts_with("c-alloc: 20000 blocks"),
        "{}",
        stdout_of(&ran)
    );
    assert!(mimalloc_banner(&stderr_of(&ran)).is_some());
}

/// rustup's rust-lld for this host.
fn rust_lld() -> PathBuf {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = PathBuf::from(stdout_of(&out).trim());
    sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld")
}

/// Copies `from` (without any `target/`) to `to`, keeping modes; returns `to`.
fn copy_tree(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    to.to_path_buf()
}
