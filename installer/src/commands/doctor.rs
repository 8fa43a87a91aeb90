//! `fastmusl doctor`: for each installed target, builds a tiny
//! multithreaded program with plain `cargo run --target T` (so through the
//! user's real cargo configuration) and reports whether it is static and
//! which allocator served it, as mimalloc's own banner says, with the
//! installed flavor beside the secure level mimalloc reports.

use anyhow::{Context, Result, bail};
use fastmusl_dist::{elf::ElfFacts, rust_std::StdSource};

use fastmusl::{
    Output,
    home::{FastmuslHome, InstallState},
};

const PROGRAM: &str = r#"fn main() {
    let handles: Vec<_> = (0..4).map(|t| std::thread::spawn(move || {
        (0..10_000).map(|i| vec![t as u8; 16 + i % 500].len()).sum::<usize>()
    })).collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("doctor: {total}");
}
"#;

pub fn doctor(out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let state = InstallState::load(&home)?;
    if state.targets.is_empty() {
        bail!("no targets installed; `fastmusl target add x86_64-unknown-linux-musl` installs one");
    }
    let work = std::env::temp_dir().join(format!("fastmusl-doctor-{}", std::process::id()));
    std::fs::create_dir_all(work.join("src"))?;
    std::fs::write(
        work.join("Cargo.toml"),
        "[package]\nname = \"fastmusl-doctor\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )?;
    std::fs::write(work.join("src/main.rs"), PROGRAM)?;
    let mut failures = 0;
    for (triple, installed) in &state.targets {
        match check_target(&work, triple) {
            Ok(report) => println!("{triple}: flavor {}, {report}", installed.flavor),
            Err(e) => {
                failures += 1;
                println!("{triple}: PROBLEM: {e:#}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    if failures > 0 {
        bail!(
            "{failures} target(s) are not served by fastmusl; `fastmusl show` lists what overrides it"
        );
    }
    out.info("every installed target builds static binaries with mimalloc");
    Ok(())
}

fn check_target(work: &std::path::Path, triple: &str) -> Result<String> {
    // Where rustup has no rust-std for the target here, std is built from
    // source with nightly's -Zbuild-std, as a user would.
    let std = StdSource::for_target(triple);
    let args = ["run", "--release", "--quiet", "--target", triple];
    // Your CARGO_TARGET_DIR, if set, so what is built once (std, under
    // -Zbuild-std) is reused; else a scratch directory.
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(dir).context("CARGO_TARGET_DIR")?,
        None => work.join("target"),
    };
    let output = std
        .cargo(&args)
        .current_dir(work)
        .env("MIMALLOC_VERBOSE", "1")
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .context("running cargo")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let hint = match std {
            StdSource::Prebuilt => String::new(),
            StdSource::BuildStd => format!(
                "\n(no rust-std for {triple} is installed, so this ran `{}`: \
                 `rustup target add {triple}` installs one where rustup ships it, else \
                 `rustup toolchain install nightly --component rust-src` lets std be built)",
                std.describe(&args)
            ),
        };
        bail!(
            "cargo run failed:\n{}{hint}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let binary = target_dir
        .join(triple)
        .join("release")
        .join("fastmusl-doctor");
    let facts = ElfFacts::read(&binary).with_context(|| format!("{}", binary.display()))?;
    let banner = stderr
        .lines()
        .find(|l| l.starts_with('v') && l.contains("(built on"));
    let secure_level = stderr
        .lines()
        .find_map(|l| l.strip_prefix("secure level: "))
        .unwrap_or("unknown");
    match (banner, facts.is_static()) {
        (Some(banner), true) => Ok(format!(
            "static {} {}-bit executable, allocator mimalloc {banner}, secure level {secure_level}{}",
            facts.machine_name(),
            facts.bits(),
            match std {
                StdSource::Prebuilt => "",
                StdSource::BuildStd => " (std built from source: nightly -Zbuild-std)",
            }
        )),
        (Some(_), false) => bail!("mimalloc ran, but the binary is dynamically linked"),
        (None, _) => bail!(
            "the program did not run with fastmusl's mimalloc (no banner under MIMALLOC_VERBOSE=1): cargo is not using fastmusl's linker for {triple}"
        ),
    }
}
