//! Installing a sysroot archive: unpack into a temporary directory beside the
//! destination, check every entry on the way, then rename into place. A crash
//! or kill at any moment leaves either the previous sysroot or the new one,
//! never a mix; leftovers of an interrupted run are removed by the next.
//!
//! Refused: entries outside the archive's top directory, `..`, absolute
//! paths, symlinks that are absolute or point outside the tree, hard links,
//! devices, fifos, paths through a symlink, and archives that unpack past a
//! size bound.

use std::{
    io::Read,
    os::unix::fs::PermissionsExt,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};

/// Unpacked sysroots are ~10 MB; anything far past that is not one.
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;
pub const MAX_ENTRIES: usize = 100_000;

/// Unpacks the `.tar.zst` `archive`, whose entries live under `top/`, to `dest`.
pub fn install_archive(archive: &[u8], top: &str, dest: &Path, max_bytes: u64) -> Result<()> {
    let parent = dest.parent().context("destination without a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
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
        refuse_symlinked_parents(into, &rel)?;
        match kind {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size()?;
                total = total.saturating_add(size);
                if total > max_bytes {
                    bail!("the archive unpacks to more than {max_bytes} bytes; refusing it");
                }
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut out = std::fs::File::create(&target)?;
                let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)?;
                if copied != size {
                    bail!("archive entry {shown} is truncated");
                }
                let executable = entry.header().mode()? & 0o111 != 0;
                let mode = if executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .context("a symlink without a target")?
                    .into_owned();
                check_symlink(&rel, &link).with_context(|| format!("archive entry {shown}"))?;
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::os::unix::fs::symlink(&link, &target)?;
            }
            other => bail!(
                "archive entry {shown} is a {other:?}; a sysroot holds only files, directories and symlinks"
            ),
        }
    }
    Ok(())
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

/// A symlink must be relative and stay inside the tree.
fn check_symlink(rel: &Path, link: &Path) -> Result<()> {
    if link.is_absolute() {
        bail!("is a symlink to the absolute path {}", link.display());
    }
    let mut depth: i64 = rel.components().count() as i64 - 1; // the link's directory
    for c in link.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => bail!("is a symlink with an unusual target {}", link.display()),
        }
        if depth < 0 {
            bail!("is a symlink to {} outside the sysroot", link.display());
        }
    }
    Ok(())
}

fn refuse_symlinked_parents(root: &Path, rel: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in &parents[..parents.len().saturating_sub(1)] {
        dir.push(c);
        if let Ok(meta) = std::fs::symlink_metadata(&dir)
            && meta.file_type().is_symlink()
        {
            bail!("archive entry {} goes through a symlink", rel.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(check_symlink(Path::new("lib/a"), Path::new("b")).is_ok());
        assert!(check_symlink(Path::new("lib/a"), Path::new("../include/x")).is_ok());
        assert!(check_symlink(Path::new("lib/a"), Path::new("../../x")).is_err());
        assert!(check_symlink(Path::new("a"), Path::new("../x")).is_err());
        assert!(check_symlink(Path::new("lib/a"), Path::new("/etc/passwd")).is_err());
    }

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
