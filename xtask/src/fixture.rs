//! Building and running Rust crates against a sysroot, the way a user's
//! cargo would with fastmusl wired in: a copy of the crate with a
//! project-level `.cargo/config.toml` holding the settings the sysroot's
//! manifest asks for (`fastmusl_dist::sysroot::CargoWiring`, the same the
//! installer writes). The developer's own cargo configuration is never
//! touched.
//!
//! Used by `cargo xtask demo` and by the end-to-end tests.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    elf::ElfFacts,
    rust_std::StdSource,
    sysroot::{CargoWiring, SysrootManifest},
};

use crate::{
    platforms::{PlatformTable, TargetPlatform},
    project_root,
    sysroot::{self, BuildRecord},
    wrappers::SysrootTools,
};

/// A built sysroot and the facts about its target.
#[derive(Debug, Clone)]
pub struct Sysroot {
    pub dir: PathBuf,
    pub manifest: SysrootManifest,
    pub record: BuildRecord,
    pub platform: TargetPlatform,
    /// What cargo is told on this host, from the manifest.
    pub wiring: CargoWiring,
    pub tools: SysrootTools,
}

impl Sysroot {
    pub fn open(dir: &Path) -> Result<Sysroot> {
        let (manifest, record) = sysroot::read_manifest(dir)?
            .with_context(|| format!("{} is not a fastmusl sysroot", dir.display()))?;
        let table = PlatformTable::load(&project_root().join("sysroots/targets.toml"))?;
        let platform = table.get(&manifest.target.parse()?)?.clone();
        let wiring = CargoWiring::new(
            &manifest.target,
            dir,
            &manifest.wiring,
            std::env::consts::ARCH,
        );
        let tools = SysrootTools::in_sysroot(dir, &platform);
        Ok(Sysroot {
            dir: dir.to_path_buf(),
            manifest,
            record,
            platform,
            wiring,
            tools,
        })
    }

    /// The cargo configuration that makes `cargo build --target T` use this
    /// sysroot.
    pub fn cargo_config(&self) -> String {
        CargoWiring::config_text(std::slice::from_ref(&self.wiring))
    }

    /// `cargo --config` value that links this target with the sysroot's
    /// linker, for builds that must not touch any config file.
    pub fn linker_config_arg(&self) -> String {
        format!(
            "target.{}.linker={}",
            self.wiring.triple,
            toml::Value::String(self.tools.linker.display().to_string())
        )
    }

    /// Sets `CC_<triple>`, `AR_<triple>`, `CXX_<triple>` and
    /// `CXXSTDLIB_<triple>` as the installer wires them, so build scripts
    /// (the cc and cmake crates) compile their C and C++ for this target.
    pub fn set_c_toolchain_env(&self, cmd: &mut Command) {
        cmd.envs(self.wiring.env_vars());
    }

    /// Runs a binary of this target: natively, or under its emulator.
    pub fn command_for(&self, binary: &Path) -> Command {
        match &self.wiring.runner {
            Some(emulator) => {
                let mut cmd = Command::new(emulator);
                cmd.arg(binary);
                cmd
            }
            None => Command::new(binary),
        }
    }
}

/// One cargo target directory for every fixture build of the tests (the
/// pipeline's and the installer's) and for `fastmusl doctor` under test:
/// where std is built from source (-Zbuild-std), it is built once per
/// target and run, not per crate.
pub fn shared_target_dir() -> PathBuf {
    project_root().join("target/fixture-builds")
}

/// Copies `xtask/fixtures/<name>` to `target/fixtures/<triple>/<name>`, wires
/// it to the sysroot, runs `cargo build --release --target <triple>` there
/// and returns the path of binary `name`.
pub fn build_fixture(sysroot: &Sysroot, name: &str) -> Result<PathBuf> {
    let src = project_root().join("xtask/fixtures").join(name);
    let triple = sysroot.platform.triple.as_str();
    let work = project_root()
        .join("target/fixtures")
        .join(triple)
        .join(name);
    copy_sources(&src, &work)?;
    std::fs::create_dir_all(work.join(".cargo"))?;
    std::fs::write(work.join(".cargo/config.toml"), sysroot.cargo_config())?;

    let target_dir = shared_target_dir();
    // Linked anew with this sysroot's wiring even if another test's link
    // of the same crate is there (cargo may not see a linker change).
    let binary = target_dir.join(triple).join("release").join(name);
    let _ = std::fs::remove_file(&binary);
    let output = StdSource::for_target(triple, sysroot.manifest.wiring.build_std_toolchain())
        .cargo(&["build", "--release", "--target", triple])
        .current_dir(&work)
        // The crate is built the way a user's would be: without flags that
        // a surrounding build may have in its environment.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .context("running cargo")?;
    if !output.status.success() {
        bail!(
            "cargo build of fixture {name} for {triple} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(binary)
}

fn copy_sources(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let (from, to) = (entry.path(), dst.join(&name));
        if entry.file_type()?.is_dir() {
            copy_sources(&from, &to)?;
        } else {
            // Rewrite only when changed, so cargo's fingerprints stay fresh.
            let bytes = std::fs::read(&from)?;
            if std::fs::read(&to).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::write(&to, bytes)?;
            }
        }
    }
    Ok(())
}

/// Runs a binary with mimalloc's verbose output on; returns its output.
pub fn run_with_mimalloc_verbose(sysroot: &Sysroot, binary: &Path) -> Result<Output> {
    let output = sysroot
        .command_for(binary)
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// mimalloc's banner as its verbose mode prints it at process start.
pub fn mimalloc_banner(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .find(|l| l.starts_with('v') && l.contains("(built on"))
}

/// The peak of memory mimalloc had committed, in bytes, from the statistics
/// it prints at exit under `MIMALLOC_SHOW_STATS=1` (the `committed :` row:
/// peak, total, current, each a number and a unit). A program that holds N
/// MiB from some allocation path shows at least N here only if mimalloc
/// served that path.
pub fn mimalloc_committed_peak(stderr: &str) -> Option<u64> {
    let row = stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("committed :"))?;
    let mut fields = row.split_whitespace();
    let number: f64 = fields.next()?.parse().ok()?;
    let unit = match fields.next()? {
        "B" => 1u64,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    Some((number * unit as f64) as u64)
}

/// `cargo xtask demo`: the main job at this stage.
pub fn run_demo(dir: &Path) -> Result<()> {
    let sysroot = Sysroot::open(dir)?;
    let binary = build_fixture(&sysroot, "alloc-churn")?;
    let elf = ElfFacts::read(&binary).with_context(|| binary.display().to_string())?;
    let output = run_with_mimalloc_verbose(&sysroot, &binary)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let banner = mimalloc_banner(&stderr)
        .context("the demo did not print mimalloc's banner: it is not using this sysroot's libc")?;
    println!(
        "sysroot:   {} ({})",
        sysroot.dir.display(),
        sysroot.manifest.version
    );
    println!("binary:    {}", binary.display());
    println!(
        "static:    {}",
        if elf.has_interpreter {
            "no (has an ELF interpreter)"
        } else {
            "yes (no ELF interpreter)"
        }
    );
    if let Some(emulator) = &sysroot.wiring.runner {
        println!("ran under: {emulator}");
    }
    println!("allocator: mimalloc {banner}");
    if elf.has_interpreter {
        bail!("the demo binary is not static");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_peak_is_read_from_mimalloc_s_statistics() {
        let stats = " arenas          peak       total     current\n  \
                     reserved  :     1.0 GiB     1.0 GiB     1.0 GiB\n  \
                     committed :    77.0 MiB    77.0 MiB    77.0 MiB\n";
        assert_eq!(
            super::mimalloc_committed_peak(stats),
            Some(77 * 1024 * 1024)
        );
        assert_eq!(super::mimalloc_committed_peak("no stats"), None);
    }
}
