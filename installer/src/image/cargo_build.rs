//! One `cargo build` for every target of an image, made reproducible from
//! source: the build machine's paths are remapped out of the binaries
//! (`fastmusl_dist::reproducible`, as the release pipeline does) and
//! `SOURCE_DATE_EPOCH` is handed to build scripts. Cargo builds several
//! targets in one invocation: one for the targets with rustup's rust-std,
//! one nightly `-Zbuild-std` invocation for those without.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    reproducible::path_remaps,
    rust_std::{StdSource, UNPINNED_NIGHTLY},
};

use super::project::Project;

/// What goes to cargo besides the targets, as cargo spells it.
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    /// `--profile NAME`; `release` unless given.
    pub profile: Option<String>,
    pub locked: bool,
    pub quiet: bool,
}

/// Where the build leaves the workspace in the binaries' file names.
pub const WORKSPACE_IN_BINARY: &str = "/build";

/// Builds `project`'s binary for each of `triples`; the executables, in
/// the order of `triples`. Cargo's output goes to stderr as cargo writes
/// it (its progress bar on a terminal).
///
/// One cargo for the targets with rustup's prebuilt std, and one nightly
/// `-Zbuild-std` cargo for those without: `-Zbuild-std` is all or nothing
/// for an invocation, and std built from source for targets that have it
/// prebuilt would cost minutes and give other binaries than `cargo build`.
///
/// `build_std_toolchains` names per target the nightly its sysroot pins
/// for `-Zbuild-std`; `link_flags` adds rustc flags per target (the
/// `.dep-v0` object).
pub fn build(
    project: &Project,
    triples: &[String],
    options: &BuildOptions,
    source_date_epoch: u64,
    build_std_toolchains: &BTreeMap<String, String>,
    link_flags: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<PathBuf>> {
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            bail!(
                "{var} is set, and cargo then ignores target.<triple>.rustflags: the static \
                 linking fastmusl wires in and the path remaps that make the image reproducible. \
                 Unset {var} (put flags in .cargo/config.toml's target.<triple>.rustflags instead)"
            );
        }
    }
    let mut groups: BTreeMap<StdSource, Vec<&String>> = BTreeMap::new();
    for triple in triples {
        let toolchain = build_std_toolchains
            .get(triple)
            .map_or(UNPINNED_NIGHTLY, String::as_str);
        groups
            .entry(StdSource::for_target(triple, toolchain))
            .or_default()
            .push(triple);
    }
    for (std, group) in &groups {
        if let StdSource::BuildStd { toolchain } = std {
            check_nightly_with_rust_src(toolchain, group)?;
        }
    }
    let mut executables: Vec<Option<PathBuf>> = vec![None; triples.len()];
    for (std, group) in groups {
        let built = one_cargo(
            project,
            &std,
            &group,
            options,
            source_date_epoch,
            link_flags,
        )?;
        for (triple, path) in built {
            if let Some(i) = triples.iter().position(|t| *t == triple) {
                executables[i] = Some(path);
            }
        }
    }
    executables
        .into_iter()
        .zip(triples)
        .map(|(path, triple)| {
            path.with_context(|| format!("cargo built no `{}` binary for {triple}", project.bin))
        })
        .collect()
}

/// One `cargo build` for `triples`, all with the same std source; each
/// target's executable, as cargo's messages name it.
fn one_cargo(
    project: &Project,
    std: &StdSource,
    triples: &[&String],
    options: &BuildOptions,
    source_date_epoch: u64,
    link_flags: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<(String, PathBuf)>> {
    let rustc = || {
        let mut cmd = match std::env::var_os("RUSTC") {
            Some(rustc) if *std == StdSource::Prebuilt => Command::new(rustc),
            _ => Command::new("rustc"),
        };
        if let StdSource::BuildStd { toolchain } = std {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        cmd
    };
    let remaps = path_remaps(
        rustc,
        &project.workspace_root,
        WORKSPACE_IN_BINARY,
        Some(&project.target_directory),
    )?;
    let remap_flags: Vec<String> = remaps.iter().map(|r| r.rustc_flag()).collect();

    let mut args: Vec<String> = vec!["build".into(), "--manifest-path".into()];
    args.push(project.manifest_path.display().to_string());
    args.extend(["-p".into(), project.package.clone()]);
    args.extend(["--bin".into(), project.bin.clone()]);
    let profile = options.profile.clone().unwrap_or_else(|| "release".into());
    args.extend(["--profile".into(), profile]);
    for triple in triples {
        args.extend(["--target".into(), (*triple).clone()]);
        // Joined to the target's rustflags from the config files (fastmusl's
        // wiring), as cargo joins arrays from --config.
        let flags = remap_flags
            .iter()
            .chain(link_flags.get(triple.as_str()).into_iter().flatten())
            .cloned();
        args.extend([
            "--config".into(),
            format!("target.{triple}.rustflags={}", toml_array(flags)),
        ]);
    }
    if !options.features.is_empty() {
        args.extend(["--features".into(), options.features.join(",")]);
    }
    if options.all_features {
        args.push("--all-features".into());
    }
    if options.no_default_features {
        args.push("--no-default-features".into());
    }
    if options.locked {
        args.push("--locked".into());
    }
    if options.quiet {
        args.push("--quiet".into());
    }
    args.push("--message-format=json-render-diagnostics".into());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = std.cargo(&arg_refs);
    cmd.env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let shown = std.describe(&arg_refs);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running `{shown}`: is cargo on PATH?"))?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut built = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        if let Some(path) = executable_of(&line, &project.bin)
            && let Some(triple) = triples
                .iter()
                .find(|t| path.starts_with(project.target_directory.join(t.as_str())))
        {
            built.push(((*triple).clone(), path));
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("`{shown}` failed (cargo's errors are above): no image was written or pushed");
    }
    Ok(built)
}

/// The executable of a `compiler-artifact` message for binary `bin`.
fn executable_of(line: &str, bin: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["target"]["name"] != bin {
        return None;
    }
    let is_bin = message["target"]["kind"]
        .as_array()?
        .iter()
        .any(|k| k == "bin");
    is_bin
        .then(|| message["executable"].as_str().map(PathBuf::from))
        .flatten()
}

fn toml_array(items: impl Iterator<Item = String>) -> String {
    items.collect::<toml_edit::Array>().to_string()
}

/// Targets without rust-std need the pinned nightly with its rust-src; say
/// which and what to install before cargo says something less clear.
fn check_nightly_with_rust_src(toolchain: &str, needing: &[&String]) -> Result<()> {
    let needing: Vec<&str> = needing.iter().map(|t| t.as_str()).collect();
    let out = Command::new("rustc")
        .env("RUSTUP_TOOLCHAIN", toolchain)
        .args(["--print", "sysroot"])
        .output();
    let sysroot = match out {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        _ => bail!(
            "{} {} no prebuilt std here, so cargo must build it with -Zbuild-std and \
             {toolchain} (the nightly the sysroot pins), which is not installed: \
             `rustup toolchain install {toolchain} --profile minimal --component rust-src`",
            needing.join(", "),
            if needing.len() == 1 { "has" } else { "have" }
        ),
    };
    if !has_rust_src(&sysroot) {
        bail!(
            "{} {} no prebuilt std here, so cargo must build it with {toolchain}'s \
             -Zbuild-std, which needs std's sources: \
             `rustup component add rust-src --toolchain {toolchain}`",
            needing.join(", "),
            if needing.len() == 1 { "has" } else { "have" }
        );
    }
    Ok(())
}

fn has_rust_src(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib/src/rust/library/Cargo.lock")
        .is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_binary_s_artifacts_are_taken() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"hello"},"executable":"/t/x86_64-unknown-linux-musl/release/hello"}"#;
        let build_script = r#"{"reason":"compiler-artifact","target":{"kind":["custom-build"],"name":"build-script-build"},"executable":null}"#;
        let other = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"other"},"executable":"/t/other"}"#;
        assert_eq!(
            executable_of(bin, "hello"),
            Some(PathBuf::from("/t/x86_64-unknown-linux-musl/release/hello"))
        );
        assert_eq!(executable_of(build_script, "hello"), None);
        assert_eq!(executable_of(other, "hello"), None);
        assert_eq!(executable_of("Compiling hello", "hello"), None);
    }

    #[test]
    fn remap_flags_are_a_toml_array_of_strings() {
        let flags = toml_array(["--remap-path-prefix=/a b=/build".to_owned()].into_iter());
        let parsed: toml_edit::DocumentMut = format!("x = {flags}").parse().unwrap();
        assert_eq!(
            parsed["x"].as_array().unwrap().get(0).unwrap().as_str(),
            Some("--remap-path-prefix=/a b=/build")
        );
    }
}
