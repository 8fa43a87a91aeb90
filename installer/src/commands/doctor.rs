//! `fastmusl doctor`: for each installed target, builds a tiny
//! multithreaded program with plain `cargo run --target T` (so through the
//! user's real cargo configuration) and reports whether it is static and
//! which allocator served it, as mimalloc's own banner says, with the
//! installed flavor beside the secure level mimalloc reports, and the
//! footprint options the program ran with (purge delay, THP, the idle
//! purger, the memory-limit awareness) against the defaults the sysroot's
//! manifest records, so that a MIMALLOC_* variable overriding one shows,
//! and the mimalloc build switches it records (no 4 MiB large pages).
//!
//! Then C++: a second program whose build script compiles a C++ file with
//! the compiler cargo's configuration names in `CXX_<triple>` and links the
//! library `CXXSTDLIB_<triple>` names, as the `cc` crate does (the probe
//! has no dependencies, so the doctor needs no registry). It reports the
//! libc++ version, that an exception was caught, and the usable size of
//! operator new's block. C++ is optional: without a clang new enough for
//! libc++ the line says what to install, and the doctor still passes.
//!
//! Last, the resolver's view of this host: /etc/resolv.conf as musl reads
//! it (`fastmusl::resolv_conf`): nameservers, search list, the options
//! honoured and those ignored.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    elf::ElfFacts,
    rust_std::{StdSource, UNPINNED_NIGHTLY},
    sysroot::SysrootManifest,
};

use fastmusl::{
    Output,
    home::{FastmuslHome, InstallState},
};

/// Where musl (and glibc) read the resolver's configuration; no variable
/// changes it.
const RESOLV_CONF: &str = "/etc/resolv.conf";

const PROGRAM: &str = r#"fn main() {
    let handles: Vec<_> = (0..4).map(|t| std::thread::spawn(move || {
        (0..10_000).map(|i| vec![t as u8; 16 + i % 500].len()).sum::<usize>()
    })).collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("doctor: {total}");
}
"#;

const CXX_PROBE: &str = r#"#include <malloc.h>
#include <stdexcept>
#include <string>

extern "C" long doctor_libcxx_version() { return _LIBCPP_VERSION; }

extern "C" int doctor_exception_caught() {
    try {
        throw std::runtime_error("doctor");
    } catch (const std::exception& e) {
        return std::string(e.what()) == "doctor";
    }
    return 0;
}

extern "C" unsigned long doctor_new_usable_size() {
    char* p = new char[13];
    unsigned long usable = malloc_usable_size(p);
    delete[] p;
    return usable;
}
"#;

const CXX_BUILD_SCRIPT: &str = r#"use std::{env, path::PathBuf, process::{exit, Command}};

// What the `cc` crate does with .cpp(true), without the crate.
fn main() {
    let target = env::var("TARGET").unwrap();
    let suffix = target.replace(['-', '.'], "_");
    let wired = |name: &str| {
        let var = format!("{name}_{suffix}");
        env::var(&var).unwrap_or_else(|_| {
            eprintln!("fastmusl: {var} is not set: C++ is not wired for {target} (a sysroot from before C++: `fastmusl update`)");
            exit(1)
        })
    };
    let (cxx, ar, stdlib) = (wired("CXX"), wired("AR"), wired("CXXSTDLIB"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let object = out.join("probe.o");
    let compiled = Command::new(&cxx)
        .args(["-c", "-O2", "-fPIC", "probe.cpp", "-o"])
        .arg(&object)
        .status()
        .unwrap_or_else(|e| { eprintln!("fastmusl: running {cxx}: {e}"); exit(1) });
    if !compiled.success() { exit(1) }
    let archived = Command::new(&ar).arg("rcs").arg(out.join("libprobe.a")).arg(&object).status();
    if !archived.is_ok_and(|s| s.success()) { eprintln!("fastmusl: {ar} failed"); exit(1) }
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=probe");
    println!("cargo:rustc-link-lib={stdlib}");
}
"#;

const CXX_PROGRAM: &str = r#"unsafe extern "C" {
    fn doctor_libcxx_version() -> std::ffi::c_long;
    fn doctor_exception_caught() -> std::ffi::c_int;
    fn doctor_new_usable_size() -> std::ffi::c_ulong;
}

fn main() {
    let version = unsafe { doctor_libcxx_version() };
    let caught = unsafe { doctor_exception_caught() } == 1;
    let usable = unsafe { doctor_new_usable_size() };
    println!(
        "libc++ {}.{}.{}, exception {}, new char[13] has {usable} usable bytes",
        version / 10000, version / 100 % 100, version % 100,
        if caught { "caught" } else { "NOT caught" }
    );
}
"#;

/// The two probe crates, side by side in one scratch directory.
struct Probes {
    work: std::path::PathBuf,
}

impl Probes {
    fn write() -> Result<Probes> {
        let work = std::env::temp_dir().join(format!("fastmusl-doctor-{}", std::process::id()));
        let package = |name: &str| {
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n"
            )
        };
        let rust = work.join("rust");
        std::fs::create_dir_all(rust.join("src"))?;
        std::fs::write(rust.join("Cargo.toml"), package("fastmusl-doctor"))?;
        std::fs::write(rust.join("src/main.rs"), PROGRAM)?;
        let cxx = work.join("cxx");
        std::fs::create_dir_all(cxx.join("src"))?;
        std::fs::write(cxx.join("Cargo.toml"), package("fastmusl-doctor-cxx"))?;
        std::fs::write(cxx.join("build.rs"), CXX_BUILD_SCRIPT)?;
        std::fs::write(cxx.join("probe.cpp"), CXX_PROBE)?;
        std::fs::write(cxx.join("src/main.rs"), CXX_PROGRAM)?;
        Ok(Probes { work })
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

pub fn doctor(out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let state = InstallState::load(&home)?;
    if state.targets.is_empty() {
        bail!("no targets installed; `fastmusl target add x86_64-unknown-linux-musl` installs one");
    }
    let probes = Probes::write()?;
    let mut failures = 0;
    let mut cxx_missing = 0;
    for (triple, installed) in &state.targets {
        let manifest = SysrootManifest::read(&home.sysroot(triple, installed)).ok();
        let std = StdSource::for_target(
            triple,
            manifest
                .as_ref()
                .map_or(UNPINNED_NIGHTLY, |m| m.wiring.build_std_toolchain()),
        );
        let (recorded, build) = manifest
            .map(|m| (m.allocator_defaults, m.allocator_build))
            .unwrap_or_default();
        match check_target(&probes.work, triple, &std) {
            Ok((report, options)) => {
                println!("{triple}: flavor {}, {report}", installed.flavor);
                println!(
                    "{triple}: allocator: {}{}",
                    footprint(&options, &recorded, |v| std::env::var_os(v).is_some()),
                    build_switches(&build)
                );
            }
            Err(e) => {
                failures += 1;
                println!("{triple}: PROBLEM: {e:#}");
            }
        }
        match check_cxx(&probes.work, triple, &std) {
            CxxCheck::Works(report) => println!("{triple}: C++: {report}"),
            CxxCheck::NoCompiler(why) => {
                cxx_missing += 1;
                println!("{triple}: C++: not set up: {why}");
            }
            CxxCheck::Broken(e) => {
                failures += 1;
                println!("{triple}: C++: PROBLEM: {e:#}");
            }
        }
    }
    // Every binary built here resolves names through this file, as musl
    // reads it (glibc's reading differs where the notes say).
    match std::fs::read_to_string(RESOLV_CONF) {
        Ok(text) => print!(
            "resolver: {RESOLV_CONF} as fastmusl's musl reads it\n{}",
            fastmusl::resolv_conf::ResolverView::read(&text)
        ),
        Err(e) => println!("resolver: {RESOLV_CONF} unreadable ({e}): lookups ask 127.0.0.1"),
    }
    if failures > 0 {
        bail!(
            "{failures} check(s) failed; `fastmusl show` lists what overrides fastmusl's settings"
        );
    }
    out.info("every installed target builds static binaries with mimalloc");
    if cxx_missing > 0 {
        out.info("C++ needs clang 17 or later, as said above; Rust and C do not");
    }
    Ok(())
}

enum CxxCheck {
    Works(String),
    /// No clang new enough for libc++: an optional part not installed.
    NoCompiler(String),
    Broken(anyhow::Error),
}

fn check_cxx(work: &std::path::Path, triple: &str, std: &StdSource) -> CxxCheck {
    let stdout = match cargo_run(&work.join("cxx"), triple, std, "fastmusl-doctor-cxx") {
        Ok(run) => run.stdout,
        Err(e) => {
            // The wrapper's own words: which clang it found, what to install.
            let text = format!("{e:#}");
            return match text.find("fastmusl: compiling C++") {
                Some(at) => CxxCheck::NoCompiler(
                    text[at..]
                        .lines()
                        .map(str::trim)
                        .take_while(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                None => CxxCheck::Broken(e),
            };
        }
    };
    match stdout.lines().next() {
        Some(line) if line.contains("exception caught") => CxxCheck::Works(line.to_owned()),
        _ => CxxCheck::Broken(anyhow::anyhow!("the C++ probe said: {stdout}")),
    }
}

/// The footprint options, as mimalloc printed them under MIMALLOC_VERBOSE.
const FOOTPRINT_OPTIONS: [&str; 7] = [
    "purge_delay",
    "allow_thp",
    "thp_after",
    "page_retire_large",
    "idle_purge",
    "limit_aware",
    "arena_max_object_size",
];

/// mimalloc's `option 'NAME': VALUE` lines, by name.
fn reported_options(stderr: &str) -> BTreeMap<String, String> {
    stderr
        .lines()
        .filter_map(|l| {
            // (with or without mimalloc's "mimalloc: " prefix)
            let rest = &l[l.find("option '")? + "option '".len()..];
            let (name, value) = rest.split_once("': ")?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// "purge_delay 1000 (mimalloc's default), allow_thp 0 (MIMALLOC_ALLOW_THP),
/// idle_purge 0 (MIMALLOC_IDLE_PURGE; the sysroot's default is 1), …": each
/// footprint option the program ran with and where its value came from. A
/// value other than the default the sysroot records was set at run time
/// (the environment, or cargo's `[env]`); `set_in_env` says which
/// `MIMALLOC_` variables this process has, for the options the sysroot
/// leaves at mimalloc's own default.
fn footprint(
    options: &BTreeMap<String, String>,
    recorded: &BTreeMap<String, i64>,
    set_in_env: impl Fn(&str) -> bool,
) -> String {
    let shown: Vec<String> = FOOTPRINT_OPTIONS
        .iter()
        .filter_map(|name| {
            let value = options.get(*name)?;
            let variable = format!("MIMALLOC_{}", name.to_ascii_uppercase());
            let origin = match recorded.get(*name) {
                Some(default) if value.split_whitespace().next() == Some(&default.to_string()) => {
                    "sysroot default".to_owned()
                }
                Some(default) => format!("{variable}; the sysroot's default is {default}"),
                None if set_in_env(&variable) => variable,
                None => "mimalloc's default".to_owned(),
            };
            Some(format!("{name} {value} ({origin})"))
        })
        .collect();
    if shown.is_empty() {
        "mimalloc reported no footprint options".to_owned()
    } else {
        shown.join(", ")
    }
}

/// "; built with enable_large_pages 0 (fixed in the sysroot)": the mimalloc
/// build switches the manifest records, which no variable changes.
fn build_switches(build: &BTreeMap<String, i64>) -> String {
    if build.is_empty() {
        return String::new();
    }
    let switches: Vec<String> = build
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    format!(
        "; built with {} (fixed in the sysroot)",
        switches.join(", ")
    )
}

fn check_target(
    work: &std::path::Path,
    triple: &str,
    std: &StdSource,
) -> Result<(String, BTreeMap<String, String>)> {
    let run = cargo_run(&work.join("rust"), triple, std, "fastmusl-doctor")?;
    let facts = ElfFacts::read(&run.binary).with_context(|| format!("{}", run.binary.display()))?;
    let stderr = run.stderr;
    let banner = stderr
        .lines()
        .find(|l| l.starts_with('v') && l.contains("(built on"));
    let secure_level = stderr
        .lines()
        .find_map(|l| l.strip_prefix("secure level: "))
        .unwrap_or("unknown");
    match (banner, facts.is_static()) {
        (Some(banner), true) => Ok((
            format!(
                "static {} {}-bit executable, allocator mimalloc {banner}, secure level {secure_level}{}",
                facts.machine_name(),
                facts.bits(),
                match std {
                    StdSource::Prebuilt => String::new(),
                    StdSource::BuildStd { toolchain } =>
                        format!(" (std built from source: {toolchain} -Zbuild-std)"),
                }
            ),
            reported_options(&stderr),
        )),
        (Some(_), false) => bail!("mimalloc ran, but the binary is dynamically linked"),
        (None, _) => bail!(
            "the program did not run with fastmusl's mimalloc (no banner under MIMALLOC_VERBOSE=1): cargo is not using fastmusl's linker for {triple}"
        ),
    }
}

/// Your CARGO_TARGET_DIR, if set, so what is built once (std, under
/// -Zbuild-std) is reused; else one scratch directory for both probes.
fn target_dir(work: &std::path::Path) -> Result<std::path::PathBuf> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(dir).context("CARGO_TARGET_DIR")?,
        None => work.join("target"),
    })
}

/// What a probe's run printed, and the binary cargo built for it.
struct ProbeRun {
    stdout: String,
    stderr: String,
    binary: std::path::PathBuf,
}

/// `cargo run --release --target T` of the probe crate in `dir`, under
/// MIMALLOC_VERBOSE=1; its output and binary, or the tail of cargo's.
fn cargo_run(
    dir: &std::path::Path,
    triple: &str,
    std: &StdSource,
    binary: &str,
) -> Result<ProbeRun> {
    // Where rustup has no rust-std for the target here, std is built from
    // source with the sysroot's pinned nightly and -Zbuild-std, as a user
    // would.
    let args = ["run", "--release", "--quiet", "--target", triple];
    let target_dir = target_dir(dir.parent().expect("a probe's directory has a parent"))?;
    let binary = target_dir.join(triple).join("release").join(binary);
    // Linked anew every time: cargo does not notice a changed linker.
    let _ = std::fs::remove_file(&binary);
    let output = std
        .cargo(&args)
        .current_dir(dir)
        .env("MIMALLOC_VERBOSE", "1")
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .context("running cargo")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let hint = match std.install_command() {
            None => String::new(),
            Some(install) => format!(
                "\n(no rust-std for {triple} is installed, so this ran `{}`: \
                 `rustup target add {triple}` installs one where rustup ships it, else \
                 `{install}` lets std be built)",
                std.describe(&args)
            ),
        };
        bail!(
            "cargo run failed:\n{}{hint}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(ProbeRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: stderr.into_owned(),
        binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_options_say_whether_they_are_the_sysroots_defaults() {
        let stderr = "mimalloc: option 'purge_delay': 250 \n\
                      mimalloc: option 'allow_thp': 1 \n\
                      mimalloc: option 'idle_purge': 1 \n\
                      mimalloc: option 'arena_max_object_size': 2097152 KiB\n\
                      mimalloc: option 'verbose': 1 \n";
        let options = reported_options(stderr);
        assert_eq!(options["purge_delay"], "250");
        let recorded: BTreeMap<String, i64> = [
            ("purge_delay".to_owned(), 250),
            ("allow_thp".to_owned(), 0),
            ("idle_purge".to_owned(), 1),
        ]
        .into();
        let no_env = |_: &str| false;
        assert_eq!(
            footprint(&options, &recorded, no_env),
            "purge_delay 250 (sysroot default), allow_thp 1 (MIMALLOC_ALLOW_THP; the sysroot's \
             default is 0), idle_purge 1 (sysroot default), arena_max_object_size 2097152 KiB \
             (mimalloc's default)"
        );
        // An option the sysroot leaves to mimalloc, set in the environment.
        let recorded: BTreeMap<String, i64> = [("idle_purge".to_owned(), 1)].into();
        assert_eq!(
            footprint(&options, &recorded, |v| v == "MIMALLOC_PURGE_DELAY"),
            "purge_delay 250 (MIMALLOC_PURGE_DELAY), allow_thp 1 (mimalloc's default), \
             idle_purge 1 (sysroot default), arena_max_object_size 2097152 KiB (mimalloc's default)"
        );
        assert_eq!(
            footprint(&BTreeMap::new(), &recorded, no_env),
            "mimalloc reported no footprint options"
        );
        assert_eq!(build_switches(&BTreeMap::new()), "");
        assert_eq!(
            build_switches(&[("enable_large_pages".to_owned(), 0)].into()),
            "; built with enable_large_pages 0 (fixed in the sysroot)"
        );
    }
}
