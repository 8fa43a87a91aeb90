//! Where a host's Rust toolchain gets the standard library for a target.
//!
//! rustup ships a prebuilt `rust-std` for most musl targets; where there is
//! none (a tier-3 target, or a host that cannot download it), cargo can
//! build std from source with nightly's `-Zbuild-std`, and a fastmusl
//! sysroot carries everything that link then needs. `fastmusl doctor` and
//! the pipeline's tests ask here which of the two applies.

use std::{path::PathBuf, process::Command};

/// How `cargo build --target T` gets std on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdSource {
    /// rustup's prebuilt rust-std for the target is installed.
    Prebuilt,
    /// No rust-std; nightly's `-Zbuild-std` builds it (needs the nightly
    /// toolchain with its `rust-src` component).
    BuildStd,
}

impl StdSource {
    /// Checks the toolchain that `rustc` on PATH (or `$RUSTC`) runs.
    pub fn for_target(triple: &str) -> StdSource {
        match target_libdir(triple) {
            Some(dir) if has_std(&dir) => StdSource::Prebuilt,
            _ => StdSource::BuildStd,
        }
    }

    /// A `cargo <subcommand> …` command that builds for the target: the
    /// `cargo` from `$CARGO` for a prebuilt std, else rustup's `cargo`
    /// proxy on the nightly toolchain, with `-Zbuild-std` after `args`.
    pub fn cargo(&self, args: &[&str]) -> Command {
        match self {
            StdSource::Prebuilt => {
                let mut cmd = cargo();
                cmd.args(args);
                cmd
            }
            StdSource::BuildStd => {
                let mut cmd = Command::new("cargo");
                without_inherited_crate_env(&mut cmd)
                    .env("RUSTUP_TOOLCHAIN", "nightly")
                    .env_remove("CARGO")
                    .env_remove("RUSTC")
                    .env_remove("RUSTDOC")
                    .args(args)
                    .arg("-Zbuild-std");
                cmd
            }
        }
    }

    /// The command line a user would type, for messages and docs.
    pub fn describe(&self, args: &[&str]) -> String {
        match self {
            StdSource::Prebuilt => format!("cargo {}", args.join(" ")),
            StdSource::BuildStd => format!("cargo +nightly {} -Zbuild-std", args.join(" ")),
        }
    }
}

/// The `cargo` of `$CARGO` (the one running us, if any), without the
/// environment cargo set for the crate that started us.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    without_inherited_crate_env(&mut cmd);
    cmd
}

/// Removes from `cmd`'s environment what cargo sets for the crate it builds
/// or runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `CARGO_BIN_EXE_*`, ...). A
/// program that cargo started (xtask under `cargo run`, a test binary)
/// hands them on to a cargo it starts, where a build script that tracks
/// one (ring's tracks `CARGO_MANIFEST_DIR`) makes the build depend on who
/// asked for it: the same crates are rebuilt whenever another test binary
/// or tool asks.
pub fn without_inherited_crate_env(cmd: &mut Command) -> &mut Command {
    const SET_FOR_A_CRATE: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    for (key, _) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        if SET_FOR_A_CRATE.contains(&name)
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn target_libdir(triple: &str) -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn has_std(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_s_own_target_has_a_prebuilt_std_and_a_made_up_one_has_none() {
        let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        assert_eq!(StdSource::for_target(&host), StdSource::Prebuilt);
        assert_eq!(
            StdSource::for_target("x86_64-unknown-none-fastmusl"),
            StdSource::BuildStd
        );
        assert_eq!(
            StdSource::BuildStd.describe(&["build", "--target", "t"]),
            "cargo +nightly build --target t -Zbuild-std"
        );
    }
}
