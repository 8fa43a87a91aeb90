//! A filesystem layer from a list of entries, byte for byte reproducible:
//! entries sorted by path, owners and modes from the entry (never from the
//! build machine), every mtime the same, and gzip with a fixed header, so
//! the same entries always give the same diff-id and the same blob digest.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

/// One entry of a layer, at a relative path without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// A layer's entries by path. A `BTreeMap` so that they are written sorted
/// and a path cannot appear twice.
#[derive(Debug, Default, Clone)]
pub struct Entries(BTreeMap<String, Entry>);

impl Entries {
    pub fn dir(&mut self, path: &str, mode: u32, owner: (u64, u64)) {
        self.insert(path, mode, owner, EntryKind::Dir);
    }

    pub fn file(&mut self, path: &str, mode: u32, owner: (u64, u64), bytes: Vec<u8>) {
        self.insert(path, mode, owner, EntryKind::File(bytes));
    }

    pub fn symlink(&mut self, path: &str, target: String) {
        self.insert(path, 0o777, (0, 0), EntryKind::Symlink(target));
    }

    fn insert(&mut self, path: &str, mode: u32, (uid, gid): (u64, u64), kind: EntryKind) {
        self.0.insert(
            path.trim_matches('/').to_owned(),
            Entry {
                mode,
                uid,
                gid,
                kind,
            },
        );
    }

    /// Adds `path`'s missing parent directories as root-owned 0755.
    pub fn with_parents(mut self) -> Entries {
        let parents: Vec<String> = self
            .0
            .keys()
            .flat_map(|path| {
                path.match_indices('/')
                    .map(|(i, _)| path[..i].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        for parent in parents {
            self.0.entry(parent).or_insert(Entry {
                mode: 0o755,
                uid: 0,
                gid: 0,
                kind: EntryKind::Dir,
            });
        }
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.0.iter()
    }
}

/// A compressed layer and the digests an image refers to it by.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `sha256:` of the uncompressed tar: the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// The gzip-compressed tar: the blob.
    pub blob: Vec<u8>,
}

impl Layer {
    /// Writes `entries` as a tar, with every mtime `mtime`, and gzips it.
    pub fn build(entries: &Entries, mtime: u64) -> Result<Layer> {
        let tar = plain_tar(entries, mtime)?;
        if entries.iter().next().is_none() {
            bail!("a layer without entries");
        }
        Ok(Layer {
            diff_id: sha256_digest(&tar),
            blob: gzip(&tar)?,
        })
    }
}

/// `entries` as an uncompressed tar, sorted by path, every mtime `mtime`.
pub fn plain_tar(entries: &Entries, mtime: u64) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, entry) in entries.iter() {
        let mut header = tar::Header::new_ustar();
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(mtime);
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), std::io::empty())
            }
            EntryKind::File(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, bytes.as_slice())
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, path, target)
            }
        }
        .with_context(|| format!("adding {path} to a tar"))?;
    }
    tar.into_inner().context("finishing a tar")
}

/// gzip with no name and a zero timestamp in its header, OS "unknown"
/// (as Go's compress/gzip writes it): nothing of the build machine or
/// moment gets in.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// `sha256:<hex>`, the digest notation of OCI.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entries {
        let mut entries = Entries::default();
        entries.file(
            "etc/passwd",
            0o644,
            (0, 0),
            b"root:x:0:0::/root:\n".to_vec(),
        );
        entries.dir("tmp", 0o1777, (0, 0));
        entries.dir("home/nonroot", 0o700, (65532, 65532));
        entries.symlink("etc/localtime", "/usr/share/zoneinfo/UTC".to_owned());
        entries.with_parents()
    }

    #[test]
    fn the_same_entries_give_the_same_bytes_and_the_tar_says_what_they_say() {
        let (a, b) = (
            Layer::build(&sample(), 0).unwrap(),
            Layer::build(&sample(), 0).unwrap(),
        );
        assert_eq!((&a.diff_id, &a.blob), (&b.diff_id, &b.blob));
        assert_ne!(
            Layer::build(&sample(), 1).unwrap().diff_id,
            a.diff_id,
            "mtime"
        );

        let tar = flate2::read::GzDecoder::new(a.blob.as_slice());
        let mut archive = tar::Archive::new(tar);
        let seen: Vec<(String, u32, u64, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("etc/", 0o755, 0, 0, 0),
                ("etc/localtime", 0o777, 0, 0, 0),
                ("etc/passwd", 0o644, 0, 0, 0),
                ("home/", 0o755, 0, 0, 0),
                ("home/nonroot/", 0o700, 65532, 65532, 0),
                ("tmp/", 0o1777, 0, 0, 0),
            ]
            .map(|(p, m, u, g, t)| (p.to_owned(), m, u, g, t))
        );
    }
}
