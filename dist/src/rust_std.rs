//! Where a host's Rust toolchain gets the standard library for a target.
//!
//! rustup ships a prebuilt `rust-std` for most musl targets; where there is
//! none (a tier-3 target, or a host that cannot download it), cargo can
//! build std from source with nightly's `-Zbuild-std`, and a fastmusl
//! sysroot carries everything that link then needs. `fastmusl doctor` and
//! the pipeline's tests ask here which of the two applies.
//!
//! Which nightly builds std is pinned by date (`build_std_toolchain` in
//! `sysroots/targets.toml`, written into each sysroot's wiring): the newest
//! nightly of the day may break `-Zbuild-std` for reasons outside fastmusl,
//! and the pinned one is the one the sysroot's tests built std with.

use std::{path::PathBuf, process::Command};

/// How `cargo build --target T` gets std on this host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StdSource {
    /// rustup's prebuilt rust-std for the target is installed.
    Prebuilt,
    /// No rust-std; nightly's `-Zbuild-std` builds it (needs that nightly
    /// `toolchain` with its `rust-src` component).
    BuildStd { toolchain: String },
}

/// The toolchain of sysroots made before the pin: rustup's newest nightly.
pub const UNPINNED_NIGHTLY: &str = "nightly";

impl StdSource {
    /// Checks the toolchain that `rustc` on PATH (or `$RUSTC`) runs; where
    /// it has no std for `triple`, std is built with `build_std_toolchain`
    /// (the sysroot's `SysrootWiring::build_std_toolchain`).
    pub fn for_target(triple: &str, build_std_toolchain: &str) -> StdSource {
        if has_prebuilt_std(triple) {
            StdSource::Prebuilt
        } else {
            StdSource::BuildStd {
                toolchain: build_std_toolchain.to_owned(),
            }
        }
    }

    /// A `cargo <subcommand> …` command that builds for the target: the
    /// `cargo` from `$CARGO` for a prebuilt std, else rustup's `cargo`
    /// proxy on the pinned nightly, with `-Zbuild-std` after `args`.
    pub fn cargo(&self, args: &[&str]) -> Command {
        match self {
            StdSource::Prebuilt => {
                let mut cmd = cargo();
                cmd.args(args);
                cmd
            }
            StdSource::BuildStd { toolchain } => {
                let mut cmd = Command::new("cargo");
                without_inherited_crate_env(&mut cmd)
                    .env("RUSTUP_TOOLCHAIN", toolchain)
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
            StdSource::BuildStd { toolchain } => {
                format!("cargo +{toolchain} {} -Zbuild-std", args.join(" "))
            }
        }
    }

    /// The rustup command that installs what this source needs, if any.
    pub fn install_command(&self) -> Option<String> {
        match self {
            StdSource::Prebuilt => None,
            StdSource::BuildStd { toolchain } => Some(format!(
                "rustup toolchain install {toolchain} --profile minimal --component rust-src"
            )),
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

/// Whether the toolchain that `rustc` on PATH (or `$RUSTC`) runs has
/// rustup's rust-std for `triple` installed.
pub fn has_prebuilt_std(triple: &str) -> bool {
    target_libdir(triple).is_some_and(|dir| has_std(&dir))
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
        assert_eq!(StdSource::for_target(&host, "n"), StdSource::Prebuilt);
        let build_std = StdSource::for_target("x86_64-unknown-none-fastmusl", "nightly-2000-01-01");
        assert_eq!(
            build_std,
            StdSource::BuildStd {
                toolchain: "nightly-2000-01-01".into()
            }
        );
        assert_eq!(
            build_std.describe(&["build", "--target", "t"]),
            "cargo +nightly-2000-01-01 build --target t -Zbuild-std"
        );
    }
}
