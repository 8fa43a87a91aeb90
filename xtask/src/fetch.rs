//! Getting a pinned source: from a mirror directory or the download cache or
//! upstream, verified against its pin before anything is unpacked.
//!
//! The archive is read into memory once, verified there, and unpacked from
//! those same bytes, so what is unpacked is exactly what was checked.

use std::{io::Read, path::Path};

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

use crate::{
    pins::{Pin, SourcePin, UpstreamFix},
    tree_hash::{Tree, sha256_hex},
};

/// Where sources come from when no `--mirror` is given.
pub const MIRROR_ENV: &str = "FASTMUSL_MIRROR";

/// Archive bytes that matched their pin.
pub struct VerifiedSource {
    pub name: String,
    pub origin: String,
    /// The archive's file name, which says how it is compressed.
    file: String,
    bytes: Vec<u8>,
}

/// A hash that did not match; nothing was unpacked.
#[derive(Debug)]
pub struct PinMismatch {
    pub file: String,
    pub origin: String,
    pub kind: &'static str,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (from {}) does not match its pin in sysroots/sources.toml\n  \
             {}: expected {}\n  {}:   actual {}\n\
             Nothing was unpacked. The file is damaged or is not the pinned \
             release; replace it with the upstream file, or if upstream \
             really changed, review the change and update the pin.",
            self.file, self.origin, self.kind, self.expected, self.kind, self.actual
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Fetches `source` from `mirror` (if given) or else from the cache or its
/// URLs, and verifies it.
pub fn fetch_verified(
    name: &str,
    source: &SourcePin,
    mirror: Option<&Path>,
    cache_dir: &Path,
) -> Result<VerifiedSource> {
    let pin = source.pin().with_context(|| format!("source `{name}`"))?;
    let what = format!("the pinned {name} {}", source.version);
    fetch_pinned(
        name,
        &what,
        &source.file,
        &source.urls,
        pin,
        mirror,
        cache_dir,
    )
}

/// Fetches one of `name`'s upstream fixes (a patch file), verified against
/// its pin, from the same places as the sources.
pub fn fetch_upstream_fix(
    name: &str,
    fix: &UpstreamFix,
    mirror: Option<&Path>,
    cache_dir: &Path,
) -> Result<VerifiedSource> {
    let what = format!("{name}'s upstream fix {}", &fix.commit[..12]);
    fetch_pinned(
        name,
        &what,
        &fix.file,
        std::slice::from_ref(&fix.url),
        fix.pin(),
        mirror,
        cache_dir,
    )
}

/// `file` from `mirror`, else from `cache_dir`, else from `urls`; checked
/// against `pin` before it is returned. `what` names it in errors.
fn fetch_pinned(
    name: &str,
    what: &str,
    file: &str,
    urls: &[String],
    pin: Pin<'_>,
    mirror: Option<&Path>,
    cache_dir: &Path,
) -> Result<VerifiedSource> {
    if let Some(mirror) = mirror {
        let path = mirror.join(file);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "the mirror {} has no readable {file} ({what})",
                mirror.display(),
            )
        })?;
        return verify(name, file, path.display().to_string(), bytes, pin);
    }

    let cached = cache_dir.join(file);
    if let Ok(bytes) = std::fs::read(&cached) {
        match verify(name, file, cached.display().to_string(), bytes, pin) {
            Ok(v) => return Ok(v),
            // A damaged cache entry is replaced by a fresh download.
            Err(e) => eprintln!("warning: {e:#}\n  downloading it again"),
        }
    }
    let mut errors = Vec::new();
    for url in urls {
        match download(url).and_then(|bytes| verify(name, file, url.clone(), bytes, pin)) {
            Ok(verified) => {
                let dir = cached.parent().unwrap_or(cache_dir);
                std::fs::create_dir_all(dir)?;
                let tmp = cached.with_file_name(format!(
                    ".{}.partial",
                    cached.file_name().unwrap_or_default().to_string_lossy()
                ));
                std::fs::write(&tmp, &verified.bytes)?;
                std::fs::rename(&tmp, &cached)?;
                return Ok(verified);
            }
            // Both error kinds already name the URL.
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if urls.is_empty() {
        bail!(
            "{what} comes from a mirror only (no upstream URL serves these exact files): \
             pass --mirror DIR (or set {MIRROR_ENV}) to a directory holding {file}."
        );
    }
    bail!(
        "could not fetch {what}:\n  {}\nWithout network access, pass --mirror DIR (or set {MIRROR_ENV}) \
         to a directory holding {file}.",
        errors.join("\n  "),
    )
}

/// A stalled mirror fails the build after a minute instead of hanging it.
fn download(url: &str) -> Result<Vec<u8>> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(30))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let response = agent.get(url).call()?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(512 << 20)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn verify(
    name: &str,
    file: &str,
    origin: String,
    bytes: Vec<u8>,
    pin: Pin<'_>,
) -> Result<VerifiedSource> {
    let (kind, expected, actual) = match pin {
        Pin::ArchiveSha256(expected) => ("archive sha256", expected, sha256_hex(&bytes)),
        Pin::TreeSha256(expected) => {
            let tree = Tree::from_tar(decompress(file, bytes.as_slice())?)
                .with_context(|| format!("reading {file} (from {origin}) as a tar archive"))?;
            ("tree sha256", expected, tree.sha256())
        }
    };
    if actual != expected {
        return Err(PinMismatch {
            file: file.to_owned(),
            origin,
            kind,
            expected: expected.to_owned(),
            actual,
        }
        .into());
    }
    Ok(VerifiedSource {
        name: name.to_owned(),
        origin,
        file: file.to_owned(),
        bytes,
    })
}

/// A reader of the tar inside `file`, by its name: `.tar.gz` (musl,
/// mimalloc, optimized-routines) or `.tar.xz` (the LLVM runtimes).
pub fn decompress<'a>(file: &str, compressed: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
        Ok(Box::new(GzDecoder::new(compressed)))
    } else if file.ends_with(".tar.xz") {
        Ok(Box::new(liblzma::read::XzDecoder::new(compressed)))
    } else {
        bail!("{file}: not a .tar.gz or .tar.xz archive")
    }
}

impl VerifiedSource {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Unpacks into `dest` (which must not exist), dropping the archive's
    /// top-level directory. Only directories, regular files and symlinks
    /// that stay inside `dest` are accepted.
    pub fn unpack(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            bail!("{} already exists", dest.display());
        }
        std::fs::create_dir_all(dest)?;
        let mut archive = tar::Archive::new(decompress(&self.file, self.bytes.as_slice())?);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let path = entry.path()?.into_owned();
            if !matches!(
                kind,
                tar::EntryType::Directory | tar::EntryType::Regular | tar::EntryType::Symlink
            ) {
                bail!(
                    "{}: unexpected {kind:?} entry {}",
                    self.name,
                    path.display()
                );
            }
            // `unpack_in` refuses paths that climb out of `dest`.
            if !entry.unpack_in(dest)? {
                bail!("{}: entry {} escapes the tree", self.name, path.display());
            }
        }
        // Entries were unpacked under their full names; drop the single
        // top-level directory.
        let mut tops = std::fs::read_dir(dest)?.collect::<std::io::Result<Vec<_>>>()?;
        if tops.len() != 1 {
            bail!(
                "{}: expected one top-level directory in the archive",
                self.name
            );
        }
        let top = tops.pop().expect("one entry").path();
        let staging = dest.with_extension("unpacking");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::rename(&top, &staging)?;
        std::fs::remove_dir(dest)?;
        std::fs::rename(&staging, dest)?;
        Ok(())
    }
}
