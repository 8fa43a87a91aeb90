//! Which package and binary of a cargo project an image is made of, and
//! what the package says about itself (for the image's labels), from
//! `cargo metadata` and `cargo locate-project`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use fastmusl_dist::rust_std;
use serde::Deserialize;

/// How cargo is told which project: `--manifest-path` and `-p`, as cargo
/// spells them.
#[derive(Debug, Default, Clone)]
pub struct ProjectSelection {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    /// A binary's name (`--bin NAME`).
    pub bin: Option<String>,
}

/// The package and binary to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub package: String,
    pub version: String,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub bin: String,
    pub manifest_path: PathBuf,
    pub workspace_root: PathBuf,
    pub target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    license: Option<String>,
    repository: Option<String>,
    manifest_path: PathBuf,
    default_run: Option<String>,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

impl Package {
    fn binaries(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter(|t| t.kind.iter().any(|k| k == "bin"))
            .map(|t| t.name.as_str())
            .collect()
    }
}

impl Project {
    /// Reads the project as cargo sees it from the current directory (or
    /// `--manifest-path`), and picks the package and binary as `cargo run`
    /// would: `-p`, else the package whose manifest cargo finds, else the
    /// workspace's only package with a binary; `--bin`, else the package's
    /// `default-run`, else its only binary.
    pub fn read(selection: &ProjectSelection) -> Result<Project> {
        let manifest = locate_project(selection.manifest_path.as_deref())?;
        let metadata: Metadata = serde_json::from_slice(&cargo_output(
            &["metadata", "--format-version", "1", "--no-deps"],
            &manifest,
        )?)
        .context("reading `cargo metadata`'s answer")?;
        let members: Vec<&Package> = metadata
            .packages
            .iter()
            .filter(|p| metadata.workspace_members.contains(&p.id))
            .collect();
        let names = |packages: &[&Package]| {
            packages
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let package = match &selection.package {
            Some(name) => *members.iter().find(|p| &p.name == name).with_context(|| {
                format!(
                    "-p {name}: no such package in the workspace at {} (its packages: {})",
                    metadata.workspace_root.display(),
                    names(&members)
                )
            })?,
            None => match members.iter().find(|p| p.manifest_path == manifest) {
                Some(package) => package,
                None => {
                    let with_bins: Vec<&Package> = members
                        .iter()
                        .copied()
                        .filter(|p| !p.binaries().is_empty())
                        .collect();
                    match with_bins.as_slice() {
                        [only] => *only,
                        [] => bail!(
                            "no package in the workspace at {} has a binary to put in an image",
                            metadata.workspace_root.display()
                        ),
                        several => bail!(
                            "the workspace at {} has several packages with binaries ({}): say \
                             which with -p NAME",
                            metadata.workspace_root.display(),
                            names(several)
                        ),
                    }
                }
            },
        };
        let binaries = package.binaries();
        let bin = match (&selection.bin, binaries.as_slice()) {
            (Some(name), _) if binaries.contains(&name.as_str()) => name.clone(),
            (Some(name), []) => bail!(
                "--bin {name}: package {} has no binary (an image needs a program: add \
                 src/main.rs or a [[bin]] target)",
                package.name
            ),
            (Some(name), all) => bail!(
                "--bin {name}: package {} has no such binary (its binaries: {}); a prebuilt \
                 binary is given by its path, such as ./{name}",
                package.name,
                all.join(", ")
            ),
            (None, []) => bail!(
                "package {} has no binary (an image needs a program: add src/main.rs or a \
                 [[bin]] target)",
                package.name
            ),
            (None, [only]) => (*only).to_owned(),
            (None, all) => match &package.default_run {
                Some(default) => default.clone(),
                None => bail!(
                    "package {} has several binaries ({}): say which with --bin NAME",
                    package.name,
                    all.join(", ")
                ),
            },
        };
        Ok(Project {
            package: package.name.clone(),
            version: package.version.clone(),
            license: package.license.clone(),
            repository: package.repository.clone(),
            bin,
            manifest_path: package.manifest_path.clone(),
            workspace_root: metadata.workspace_root,
            target_directory: metadata.target_directory,
        })
    }
}

/// What git says about the workspace, for labels and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHead {
    pub commit: String,
    /// The commit's time (`%ct`): `SOURCE_DATE_EPOCH` when none is set.
    pub time: u64,
    /// Tracked files differ from the commit: the image is not the commit's.
    pub dirty: bool,
}

impl Project {
    /// The workspace's HEAD, or `None` outside a git work tree (or
    /// without git).
    pub fn git_head(&self) -> Option<GitHead> {
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .arg("-C")
                .arg(&self.workspace_root)
                .args(args)
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let line = git(&["log", "-1", "--format=%H %ct"])?;
        let (commit, time) = line.split_once(' ')?;
        let status = git(&["status", "--porcelain", "--untracked-files=no"])?;
        Some(GitHead {
            commit: commit.to_owned(),
            time: time.parse().ok()?,
            dirty: !status.is_empty(),
        })
    }
}

/// The manifest cargo would use: `--manifest-path`, or the nearest
/// `Cargo.toml` from the current directory up.
fn locate_project(manifest_path: Option<&Path>) -> Result<PathBuf> {
    let mut cmd = rust_std::cargo();
    cmd.args(["locate-project", "--message-format", "plain"]);
    if let Some(path) = manifest_path {
        cmd.arg("--manifest-path").arg(path);
    }
    let out = run(cmd)?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out).trim()))
}

pub(super) fn cargo_output(args: &[&str], manifest: &Path) -> Result<Vec<u8>> {
    let mut cmd = rust_std::cargo();
    cmd.args(args).arg("--manifest-path").arg(manifest);
    run(cmd)
}

fn run(mut cmd: Command) -> Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("running cargo ({shown}): is it on PATH?"))?;
    if !out.status.success() {
        bail!(
            "{}: no cargo project here? (cargo says: {})",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}
