//! Installing a sysroot archive: unpack into a temporary directory beside the
//! destination, check every entry on the way, then rename into place. A crash
//! or kill at any moment leaves either the previous sysroot or the new one,
//! never a mix; leftovers of an interrupted run are removed by the next.
//!
//! A sysroot holds only directories and regular files, so that is all an
//! archive may hold, as rustup decides for its components: symlinks, hard
//! links, devices and fifos are refused outright rather than judged. Judging
//! a link target by its text is not enough (a link can lead through another
//! link, and a later file entry of the same name would be written through
//! it); with no links at all, nothing in the tree can lead outside it.
//! Files are created with `create_new`, so no entry ever writes through an
//! existing path. Also refused: entries outside the archive's top
//! directory, `..`, absolute paths, a name given twice, and archives that
//! unpack past a size or entry-count bound.

use std::{
    io::Read,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};

/// Unpacked sysroots are ~10 MB; anything far past that is not one.
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;
pub const MAX_ENTRIES: usize = 100_000;

/// Unpacks the `.tar.zst` `archive`, whose entries live under `top/`, to `dest`.
pub fn install_archive(archive: &[u8], top: &str, dest: &Path, max_bytes: u64) -> Result<()> {
    let parent = dest.parent().context("destination without a parent")?;
    let created = create_dirs(parent)?;
    let result = install_in(archive, top, dest, parent, max_bytes);
    if result.is_err() {
        // A refused archive leaves no trace, not even an empty directory.
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// `create_dir_all`, returning the directories it created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(missing.into_iter().rev().collect())
}

fn install_in(archive: &[u8], top: &str, dest: &Path, parent: &Path, max_bytes: u64) -> Result<()> {
    let name = dest
        .file_name()
        .context("destination without a name")?
        .to_string_lossy()
        .into_owned();
    remove_leftovers(parent, &name)?;
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    std::fs::create_dir(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let result = unpack_checked(archive, top, &partial, max_bytes);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    // Swap: the old tree stays whole until the new one is in place.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if dest.exists() {
        std::fs::rename(dest, &old).with_context(|| format!("moving aside {}", dest.display()))?;
    }
    std::fs::rename(&partial, dest)
        .with_context(|| format!("moving {} into place", dest.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Removes `.NAME.partial-*` and `.NAME.old-*` of interrupted runs (the
/// caller holds the home lock, so none is in use). If a kill struck between
/// the two renames, the `.old` tree is the last good one: put it back.
fn remove_leftovers(parent: &Path, name: &str) -> Result<()> {
    let dest = parent.join(name);
    for entry in std::fs::read_dir(parent)? {
        let path = entry?.path();
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if file.starts_with(&format!(".{name}.partial-")) {
            std::fs::remove_dir_all(&path)?;
        } else if file.starts_with(&format!(".{name}.old-")) {
            if dest.exists() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::rename(&path, &dest)?;
            }
        }
    }
    Ok(())
}

fn unpack_checked(archive: &[u8], top: &str, into: &Path, max_bytes: u64) -> Result<()> {
    let decoder = zstd::stream::read::Decoder::new(archive).context("not a zstd stream")?;
    let mut tar = tar::Archive::new(decoder.take(max_bytes.saturating_mul(2)));
    let mut total: u64 = 0;
    let mut count = 0usize;
    for entry in tar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        count += 1;
        if count > MAX_ENTRIES {
            bail!("the archive has more than {MAX_ENTRIES} entries");
        }
        let raw_path = entry
            .path()
            .context("an entry with an unreadable path")?
            .into_owned();
        let rel = relative_inside(&raw_path, top)?;
        let kind = entry.header().entry_type();
        let shown = raw_path.display();
        if rel.as_os_str().is_empty() {
            if kind.is_dir() {
                continue;
            }
            bail!("archive entry {shown} replaces the top directory");
        }
        let target = into.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                // Parents are created by this function only, as directories.
                std::fs::create_dir_all(&target)
                    .with_context(|| format!("archive entry {shown}"))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size()?;
                total = total.saturating_add(size);
                if total > max_bytes {
                    bail!("the archive unpacks to more than {max_bytes} bytes; refusing it");
                }
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("archive entry {shown}"))?;
                }
                let executable = entry.header().mode()? & 0o111 != 0;
                let mode = if executable { 0o755 } else { 0o644 };
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&target)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            anyhow::anyhow!("archive entry {shown} names a path given before")
                        }
                        _ => anyhow::Error::new(e).context(format!("archive entry {shown}")),
                    })?;
                let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)?;
                if copied != size {
                    bail!("archive entry {shown} is truncated");
                }
                // Exactly these modes, whatever the umask.
                out.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            other => bail!(
                "archive entry {shown} is {}; a sysroot holds only regular files and directories",
                describe(other)
            ),
        }
    }
    Ok(())
}

fn describe(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "a symlink".to_owned(),
        tar::EntryType::Link => "a hard link".to_owned(),
        tar::EntryType::Char | tar::EntryType::Block => "a device file".to_owned(),
        tar::EntryType::Fifo => "a fifo".to_owned(),
        other => format!("an entry of type {other:?}"),
    }
}

/// `top/a/b` -> `a/b`; anything else is refused.
fn relative_inside(path: &Path, top: &str) -> Result<PathBuf> {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(first)) if first == top => {}
        Some(Component::RootDir) => bail!("archive entry {} is an absolute path", path.display()),
        _ => bail!(
            "archive entry {} is outside the expected top directory {top}/",
            path.display()
        ),
    }
    let mut rel = PathBuf::new();
    for c in components {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => bail!("archive entry {} climbs out with `..`", path.display()),
            Component::RootDir | Component::Prefix(_) => {
                bail!("archive entry {} is absolute", path.display())
            }
        }
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_under_the_top_directory() {
        assert_eq!(
            relative_inside(Path::new("top/lib/x"), "top").unwrap(),
            PathBuf::from("lib/x")
        );
        assert!(relative_inside(Path::new("/top/x"), "top").is_err());
        assert!(relative_inside(Path::new("other/x"), "top").is_err());
        assert!(relative_inside(Path::new("top/../x"), "top").is_err());
    }
}
