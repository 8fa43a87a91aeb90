//! `cargo xtask dist --target T… --out DIR [--sign-key PATH]`: turns built
//! sysroots into a release directory that can be uploaded as-is to any
//! static host:
//!
//! - `fastmusl-sysroot-<version>-<triple>.tar.zst` per target, reproducible
//!   (entries sorted, fixed mtime, uid/gid 0, no owner names, normalised
//!   modes, no extended attributes; zstd level 19), with `.sha256` and, when
//!   signing, `.minisig`;
//! - `channel-<channel>.toml` (see `fastmusl_dist::channel`) and its
//!   `.minisig`, whose trusted comment names the file, the version and the
//!   release timestamp, so an installer can refuse a replayed older one.
//!
//! Times: archive entries carry SOURCE_DATE_EPOCH, else the pinned source
//! date (so an unchanged sysroot packs to the same bytes in any release);
//! the manifest's release timestamp is SOURCE_DATE_EPOCH, else the commit
//! time of HEAD (the same for every build of one commit, later for later
//! commits).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    channel::{self, Artifact, ChannelManifest, SysrootRelease},
    signature::TrustedComment,
};
use xshell::{Shell, cmd};

use crate::{
    pins::{self, SourcePins},
    platforms::TargetTriple,
    project_root,
    signing::{ReleaseSigner, SIGN_KEY_ENV},
    sysroot::{self, SysrootRequest},
    tree_hash::sha256_hex,
};

/// zstd level for sysroot archives: slow to pack once, fast to unpack often.
const ZSTD_LEVEL: i32 = 19;

pub struct DistRequest {
    pub targets: Vec<TargetTriple>,
    pub out: PathBuf,
    /// The minisign secret key; `None` also consults FASTMUSL_SIGN_KEY.
    pub sign_key: Option<PathBuf>,
    /// Where sysroots are built or found (`<root>/<triple>`).
    pub sysroot_root: PathBuf,
    pub mirror: Option<PathBuf>,
    pub channel: String,
}

/// What a dist run wrote.
#[derive(Debug)]
pub struct DistOutput {
    pub manifest: PathBuf,
    pub artifacts: Vec<PathBuf>,
    pub signed_by: Option<String>,
}

pub fn run(request: &DistRequest) -> Result<DistOutput> {
    if request.targets.is_empty() {
        bail!("dist needs at least one --target");
    }
    let signer = match request
        .sign_key
        .clone()
        .or_else(|| std::env::var_os(SIGN_KEY_ENV).map(PathBuf::from))
    {
        Some(path) => Some(ReleaseSigner::from_file(&path)?),
        None => {
            eprintln!(
                "warning: no signing key (--sign-key or {SIGN_KEY_ENV}): the release is unsigned, \
                 and installers will refuse it"
            );
            None
        }
    };
    let pins = SourcePins::load(&project_root().join("sysroots/sources.toml"))?;
    let version = pins.sysroot_version();
    let source_date_epoch = source_date_epoch_env()?;
    let archive_mtime = source_date_epoch.unwrap_or_else(|| pins.source_date_epoch());
    let release_timestamp = match source_date_epoch {
        Some(t) => t,
        None => head_commit_time()?,
    };

    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("creating {}", request.out.display()))?;
    let mut targets = std::collections::BTreeMap::new();
    let mut artifacts = Vec::new();
    for triple in &request.targets {
        let dir = sysroot::build_or_reuse(&SysrootRequest {
            triple: triple.clone(),
            mirror: request.mirror.clone(),
            out_root: request.sysroot_root.clone(),
        })?;
        let manifest = sysroot::read_manifest(&dir)?.context("the sysroot has no manifest")?;
        if manifest.version != version {
            bail!(
                "{} holds sysroot {}, expected {version}",
                dir.display(),
                manifest.version
            );
        }
        let name = channel::sysroot_artifact_name(&version, triple.as_str());
        let top = name.trim_end_matches(".tar.zst");
        let tar = pack_tree(&dir, top, archive_mtime)?;
        let zst = zstd::encode_all(tar.as_slice(), ZSTD_LEVEL).context("compressing")?;
        let sha256 = sha256_hex(&zst);
        let path = request.out.join(&name);
        write_atomic(&path, &zst)?;
        write_atomic(
            &request.out.join(format!("{name}.sha256")),
            format!("{sha256}  {name}\n").as_bytes(),
        )?;
        if let Some(signer) = &signer {
            let comment = TrustedComment::format(&[
                ("file", &name),
                ("sha256", &sha256),
                ("version", &version),
            ]);
            write_atomic(
                &request.out.join(format!("{name}.minisig")),
                signer.sign(&zst, &comment)?.as_bytes(),
            )?;
        }
        eprintln!(
            "fastmusl: {name}: {} bytes ({} unpacked)",
            zst.len(),
            tar.len()
        );
        targets.insert(
            triple.to_string(),
            Artifact {
                url: name.clone(),
                size: zst.len() as u64,
                sha256,
            },
        );
        artifacts.push(path);
    }

    let manifest = ChannelManifest {
        manifest_version: channel::MANIFEST_VERSION.to_owned(),
        channel: request.channel.clone(),
        date: pins::iso_date(release_timestamp),
        release_timestamp,
        sysroot: SysrootRelease {
            version: version.clone(),
            target: targets,
        },
    };
    let manifest_name = channel::manifest_file_name(&request.channel);
    let manifest_path = request.out.join(&manifest_name);
    let text = manifest.to_toml();
    write_atomic(&manifest_path, text.as_bytes())?;
    if let Some(signer) = &signer {
        let timestamp = release_timestamp.to_string();
        let comment = TrustedComment::format(&[
            ("file", &manifest_name),
            ("version", &version),
            ("timestamp", &timestamp),
        ]);
        write_atomic(
            &request.out.join(format!("{manifest_name}.minisig")),
            signer.sign(text.as_bytes(), &comment)?.as_bytes(),
        )?;
    }
    Ok(DistOutput {
        manifest: manifest_path,
        artifacts,
        signed_by: signer.map(|s| s.key_id()),
    })
}

fn source_date_epoch_env() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(None),
    }
}

fn head_commit_time() -> Result<u64> {
    let sh = Shell::new()?;
    let root = project_root();
    let out = cmd!(sh, "git -C {root} log -1 --format=%ct HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .context("no release time: set SOURCE_DATE_EPOCH (or run from a git checkout, whose HEAD commit time is used)")?;
    out.trim()
        .parse()
        .with_context(|| format!("git printed {out:?} as HEAD's commit time"))
}

/// A reproducible tar of `dir` under the top-level directory `top`.
pub fn pack_tree(dir: &Path, top: &str, mtime: u64) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries)?;
    entries.sort();
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let header_for = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        // Owner names stay empty (new_gnu zeroes them).
        header
    };
    let mut top_header = header_for(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut top_header, format!("{top}/"), std::io::empty())?;
    for rel in entries {
        let path = dir.join(&rel);
        let name = format!("{top}/{rel}");
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            let mut header = header_for(tar::EntryType::Symlink, 0o777, 0);
            builder.append_link(&mut header, &name, std::fs::read_link(&path)?)?;
        } else if meta.is_dir() {
            let mut header = header_for(tar::EntryType::Directory, 0o755, 0);
            builder.append_data(&mut header, format!("{name}/"), std::io::empty())?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let content = std::fs::read(&path)?;
            let mut header = header_for(tar::EntryType::Regular, mode, content.len() as u64);
            builder.append_data(&mut header, &name, content.as_slice())?;
        }
    }
    Ok(builder.into_inner()?)
}

/// Relative '/'-separated paths of everything under `dir`, unsorted.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)?
            .to_str()
            .context("non-UTF-8 path in a sysroot")?
            .to_owned();
        let is_dir = entry.file_type()?.is_dir();
        out.push(rel);
        if is_dir {
            collect(root, &path, out)?;
        }
    }
    Ok(())
}

/// Writes beside the destination, then renames: readers never see half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_ignores_times_owners_modes_and_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir_all(dir.join("lib")).unwrap();
        }
        std::fs::write(a.path().join("lib/x"), "x").unwrap();
        std::fs::write(a.path().join("y"), "y").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(b.path().join("y"), "y").unwrap();
        std::fs::write(b.path().join("lib/x"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.path().join("y"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let ta = pack_tree(a.path(), "top", 5).unwrap();
        let tb = pack_tree(b.path(), "top", 5).unwrap();
        assert_eq!(ta, tb);
        let mut archive = tar::Archive::new(ta.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(
                    (e.header().mtime().unwrap(), e.header().uid().unwrap()),
                    (5, 0)
                );
                e.path().unwrap().display().to_string()
            })
            .collect();
        assert_eq!(names, ["top/", "top/lib/", "top/lib/x", "top/y"]);
    }
}
