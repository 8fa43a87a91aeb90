//! The tree hash: a SHA-256 over the files of an unpacked source tree that
//! does not depend on how the tree was archived (tar flavour, compression,
//! mtimes, owners, modes, entry order).
//!
//! Why: GitHub generates tag tarballs on demand and does not promise stable
//! bytes, so mimalloc (and the Debian-provided Linux headers) are pinned by
//! their contents. The definition is written down in `sysroots/sources.toml`;
//! this module is its only implementation.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Component, Path},
};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// One entry of a tree: a regular file's content or a symlink's target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TreeEntry {
    File(Vec<u8>),
    Symlink(Vec<u8>),
}

/// Files of a tree by '/'-separated relative path; sorted bytewise by
/// construction (BTreeMap over bytes).
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<Vec<u8>, TreeEntry>,
}

impl Tree {
    fn insert(&mut self, path: Vec<u8>, entry: TreeEntry) -> Result<()> {
        if self.entries.insert(path.clone(), entry).is_some() {
            bail!("the tree has `{}` twice", String::from_utf8_lossy(&path));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, entry) in &self.entries {
            let (kind, content): (&[u8], &[u8]) = match entry {
                TreeEntry::File(c) => (b"file", c),
                TreeEntry::Symlink(t) => (b"symlink", t),
            };
            hasher.update(path);
            hasher.update([0]);
            hasher.update(kind);
            hasher.update([0]);
            hasher.update(content.len().to_string().as_bytes());
            hasher.update([0]);
            hasher.update(content);
        }
        hex(&hasher.finalize())
    }

    /// Reads a tar stream whose entries all live under one top-level
    /// directory, which is stripped. Nothing is written to disk.
    pub fn from_tar(reader: impl Read) -> Result<Tree> {
        let mut archive = tar::Archive::new(reader);
        let mut tree = Tree::default();
        let mut top: Option<Vec<u8>> = None;
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            let path = entry.path_bytes().into_owned();
            if kind.is_pax_global_extensions() {
                continue; // GitHub's `pax_global_header` (the commit id)
            }
            let rel = strip_top_dir(&path, &mut top)?;
            match kind {
                tar::EntryType::Directory => continue,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut content = Vec::new();
                    entry.read_to_end(&mut content)?;
                    tree.insert(rel, TreeEntry::File(content))?;
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .context("symlink without a target")?
                        .into_owned();
                    tree.insert(rel, TreeEntry::Symlink(target))?;
                }
                other => bail!(
                    "`{}` is a {other:?} entry; a source tree holds only files, \
                     directories and symlinks",
                    String::from_utf8_lossy(&path)
                ),
            }
        }
        Ok(tree)
    }

    /// Reads the given subdirectories of `root` (all of it if none are given);
    /// paths are relative to `root`.
    pub fn from_dirs(root: &Path, subdirs: &[&str]) -> Result<Tree> {
        let mut tree = Tree::default();
        if subdirs.is_empty() {
            walk(root, root, &mut tree)?;
        }
        for sub in subdirs {
            let dir = root.join(sub);
            if !dir.is_dir() {
                bail!("{} is not a directory", dir.display());
            }
            walk(root, &dir, &mut tree)?;
        }
        Ok(tree)
    }
}

fn walk(root: &Path, dir: &Path, tree: &mut Tree) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let rel = rel_bytes(root, &path)?;
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            let target = std::fs::read_link(&path)?;
            tree.insert(rel, TreeEntry::Symlink(os_bytes(target.as_os_str())))?;
        } else if file_type.is_dir() {
            walk(root, &path, tree)?;
        } else if file_type.is_file() {
            let content =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            tree.insert(rel, TreeEntry::File(content))?;
        } else {
            bail!(
                "{} is neither a file, a directory nor a symlink",
                path.display()
            );
        }
    }
    Ok(())
}

fn rel_bytes(root: &Path, path: &Path) -> Result<Vec<u8>> {
    let rel = path.strip_prefix(root)?;
    let parts: Vec<Vec<u8>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => Ok(os_bytes(s)),
            other => bail!("unexpected path component {other:?} in {}", path.display()),
        })
        .collect::<Result<_>>()?;
    Ok(parts.join(&b'/'))
}

fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

/// `top/a/b` -> `a/b`, checking that every entry shares `top` and that no
/// component escapes the tree.
fn strip_top_dir(path: &[u8], top: &mut Option<Vec<u8>>) -> Result<Vec<u8>> {
    let shown = || String::from_utf8_lossy(path).into_owned();
    if path.starts_with(b"/") {
        bail!("archive entry `{}` is an absolute path", shown());
    }
    let mut parts = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".");
    let first = parts
        .next()
        .with_context(|| format!("empty archive path `{}`", shown()))?;
    match top {
        None => *top = Some(first.to_vec()),
        Some(t) if t.as_slice() == first => {}
        Some(t) => bail!(
            "archive entry `{}` is outside the top-level directory `{}`",
            shown(),
            String::from_utf8_lossy(t)
        ),
    }
    let rest: Vec<&[u8]> = parts.collect();
    if rest.iter().any(|p| *p == b"..") {
        bail!("archive entry `{}` climbs out with `..`", shown());
    }
    Ok(rest.join(&b'/'))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])], mode: u32, mtime: u64) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(mode);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn independent_of_order_modes_times_and_top_dir() {
        let a = tar_of(&[("p-1/b.c", b"bee"), ("p-1/a/x.h", b"ex")], 0o644, 1);
        let b = tar_of(&[("q/a/x.h", b"ex"), ("q/b.c", b"bee")], 0o755, 999);
        let ha = Tree::from_tar(a.as_slice()).unwrap().sha256();
        let hb = Tree::from_tar(b.as_slice()).unwrap().sha256();
        assert_eq!(ha, hb);
    }

    #[test]
    fn depends_on_every_byte_and_name() {
        let base = Tree::from_tar(tar_of(&[("p/a", b"1")], 0o644, 0).as_slice()).unwrap();
        let content = Tree::from_tar(tar_of(&[("p/a", b"2")], 0o644, 0).as_slice()).unwrap();
        let name = Tree::from_tar(tar_of(&[("p/b", b"1")], 0o644, 0).as_slice()).unwrap();
        // Moving bytes between name and content must not collide.
        let split1 = Tree::from_tar(tar_of(&[("p/ab", b"c")], 0o644, 0).as_slice()).unwrap();
        let split2 = Tree::from_tar(tar_of(&[("p/a", b"bc")], 0o644, 0).as_slice()).unwrap();
        assert_ne!(base.sha256(), content.sha256());
        assert_ne!(base.sha256(), name.sha256());
        assert_ne!(split1.sha256(), split2.sha256());
    }

    #[test]
    fn matches_the_same_tree_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inc/sub")).unwrap();
        std::fs::write(dir.path().join("inc/sub/x.h"), b"ex").unwrap();
        std::fs::write(dir.path().join("inc/b.h"), b"bee").unwrap();
        let on_disk = Tree::from_dirs(dir.path(), &["inc"]).unwrap();
        let archived = Tree::from_tar(
            tar_of(
                &[("top/inc/b.h", b"bee"), ("top/inc/sub/x.h", b"ex")],
                0o600,
                5,
            )
            .as_slice(),
        )
        .unwrap();
        assert_eq!(on_disk.sha256(), archived.sha256());
    }

    #[test]
    fn refuses_entries_outside_the_tree() {
        let mixed = tar_of(&[("a/x", b"1"), ("b/y", b"2")], 0o644, 0);
        assert!(Tree::from_tar(mixed.as_slice()).is_err());
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`, so write the name into the header directly.
        header.as_gnu_mut().unwrap().name[..10].copy_from_slice(b"a/../../x\0");
        header.set_cksum();
        builder.append(&header, &b"1"[..]).unwrap();
        let climbing = builder.into_inner().unwrap();
        let err = Tree::from_tar(climbing.as_slice()).unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
    }
}
