//! Installing one sysroot: download it, check its size and SHA-256 against
//! the signed channel manifest, unpack it atomically into its versioned
//! directory, and check that the manifest inside says what the channel
//! said (target, version, wiring). A sysroot that fails any step is not
//! left behind.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    channel::{Artifact, SysrootArtifact},
    sysroot::SysrootManifest,
};
use sha2::{Digest, Sha256};

use crate::{
    Output,
    dist_server::DistServer,
    home::{FastmuslHome, Installed},
    unpack::{self, MAX_UNPACKED_BYTES},
};

/// Downloads, checks and unpacks one sysroot into its versioned directory.
pub fn install_sysroot(
    server: &DistServer,
    home: &FastmuslHome,
    triple: &str,
    installed: &Installed,
    sysroot: &SysrootArtifact,
    out: &Output,
) -> Result<()> {
    let artifact = &sysroot.artifact;
    let progress = !out.quiet && std::io::stderr().is_terminal();
    out.info(&format!(
        "downloading {} ({} bytes)",
        artifact.url, artifact.size
    ));
    let bytes = server.fetch(&artifact.url, artifact.size, progress)?;
    check_artifact(&server.location(&artifact.url), &bytes, artifact)?;
    let top = artifact.url.trim_end_matches(".tar.zst");
    let dir = home.sysroot(triple, installed);
    unpack::install_archive(&bytes, top, &dir, MAX_UNPACKED_BYTES)
        .with_context(|| format!("installing {}", artifact.url))?;
    if let Err(e) = check_installed(&dir, triple, installed, sysroot) {
        let _ = home.remove_sysroot(triple, installed);
        return Err(e.context(format!(
            "{}: the archive does not hold the sysroot the signed manifest describes; \
             it was not installed",
            artifact.url
        )));
    }
    out.info(&format!("{triple}: installed sysroot {installed}"));
    Ok(())
}

/// The unpacked sysroot's own manifest agrees with the channel's entry.
fn check_installed(
    dir: &std::path::Path,
    triple: &str,
    installed: &Installed,
    sysroot: &SysrootArtifact,
) -> Result<()> {
    let manifest = SysrootManifest::read(dir)?;
    let found = Installed::new(&manifest.version, &manifest.flavor);
    if manifest.target != triple || &found != installed {
        bail!(
            "it is sysroot {found} for {}, not {installed} for {triple}",
            manifest.target
        );
    }
    if manifest.wiring != sysroot.wiring {
        bail!(
            "its wiring differs from the channel manifest's:\n  sysroot: {:?}\n  channel: {:?}",
            manifest.wiring,
            sysroot.wiring
        );
    }
    Ok(())
}

/// Size and SHA-256 as the signed manifest lists them.
pub fn check_artifact(name: &str, bytes: &[u8], artifact: &Artifact) -> Result<()> {
    if bytes.len() as u64 != artifact.size {
        bail!(
            "{name}: downloaded {} bytes, the signed manifest says {}; refusing it (nothing was installed)",
            bytes.len(),
            artifact.size
        );
    }
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != artifact.sha256 {
        bail!(
            "{name}: sha256 {actual} does not match {} from the signed manifest; refusing it \
             (nothing was installed)",
            artifact.sha256
        );
    }
    Ok(())
}
