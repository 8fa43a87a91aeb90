//! What makes a build give the same bytes on two machines, for two users
//! or two clones at different places: the build machine's paths that reach
//! a Rust binary through file names (panic locations, `file!()`, debug
//! info), each mapped to a fixed name with rustc's `--remap-path-prefix`,
//! and the one time stamped into outputs, `SOURCE_DATE_EPOCH`. The release
//! pipeline (`cargo xtask dist`) and `fastmusl image` both use these.

use std::path::Path;
use std::process::Command;

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), when set.
pub fn source_date_epoch() -> Result<Option<u64>, BadSourceDateEpoch> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| BadSourceDateEpoch(v)),
        _ => Ok(None),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds since 1970")]
pub struct BadSourceDateEpoch(String);

/// One `--remap-path-prefix=FROM=TO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRemap {
    pub from: String,
    pub to: String,
}

impl PathRemap {
    pub fn rustc_flag(&self) -> String {
        format!("--remap-path-prefix={}={}", self.from, self.to)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    #[error("cannot run `{command}`: {source}")]
    Run {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error(
        "`{command}` names no commit-hash: a rustc built without one cannot name std's sources"
    )]
    NoCommit { command: String },
}

/// The remaps for building `workspace` (named `workspace_as` in the
/// binary) with the toolchain whose `rustc` the `rustc` closure makes:
///
/// - the workspace -> `workspace_as`;
/// - `target_dir`, when it is not inside the workspace (build scripts'
///   `OUT_DIR` files are compiled from there) -> `/target`;
/// - `CARGO_HOME` (the registry's crate sources) -> `/cargo`;
/// - the toolchain's `rust-src`, when installed -> `/rustc/<commit>`, the
///   name rustc gives std's sources when it is not: with rust-src present
///   (and always with `-Zbuild-std`), rustc turns those names into local
///   paths under the rustup home.
///
/// rustc applies the last remap that matches, so the more specific
/// prefixes come later.
pub fn path_remaps(
    rustc: impl Fn() -> Command,
    workspace: &Path,
    workspace_as: &str,
    target_dir: Option<&Path>,
) -> Result<Vec<PathRemap>, RemapError> {
    let sysroot = run(rustc(), &["--print", "sysroot"])?;
    let version = run(rustc(), &["-vV"])?;
    let commit = version
        .lines()
        .find_map(|l| l.strip_prefix("commit-hash: "))
        .filter(|c| !c.trim().is_empty() && c.trim() != "unknown")
        .ok_or_else(|| RemapError::NoCommit {
            command: describe(&rustc(), &["-vV"]),
        })?;
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    let mut remaps = vec![
        PathRemap {
            from: cargo_home,
            to: "/cargo".to_owned(),
        },
        PathRemap {
            from: format!("{}/lib/rustlib/src/rust", sysroot.trim()),
            to: format!("/rustc/{}", commit.trim()),
        },
        PathRemap {
            from: workspace.display().to_string(),
            to: workspace_as.to_owned(),
        },
    ];
    if let Some(dir) = target_dir.filter(|d| !d.starts_with(workspace)) {
        remaps.push(PathRemap {
            from: dir.display().to_string(),
            to: "/target".to_owned(),
        });
    }
    Ok(remaps)
}

fn run(mut cmd: Command, args: &[&str]) -> Result<String, RemapError> {
    let command = describe(&cmd, args);
    let out = cmd.args(args).output().map_err(|source| RemapError::Run {
        command: command.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(RemapError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command, args: &[&str]) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.extend(args.iter().map(|a| (*a).to_owned()));
    words.join(" ")
}
