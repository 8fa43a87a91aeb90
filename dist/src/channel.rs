//! The channel manifest (`channel-stable.toml`): what a release contains and
//! where, with each artifact's size and SHA-256. Modelled on rustup's
//! channel manifests: one file, signed, that names everything else by a
//! relative URL, so a release directory can be uploaded to any static host.
//!
//! Readers ignore tables they do not know (a newer release may add, e.g.,
//! the installer's own binaries per host) but refuse another
//! `manifest-version`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sysroot::SysrootWiring;

pub const MANIFEST_VERSION: &str = "1";

/// The file name of a channel's manifest (`channel-stable.toml`).
pub fn manifest_file_name(channel: &str) -> String {
    format!("channel-{channel}.toml")
}

/// The file name of a sysroot artifact.
pub fn sysroot_artifact_name(version: &str, triple: &str) -> String {
    format!("fastmusl-sysroot-{version}-{triple}.tar.zst")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ChannelManifest {
    pub manifest_version: String,
    pub channel: String,
    /// `YYYY-MM-DD` (UTC) of `release_timestamp`.
    pub date: String,
    /// Seconds since the Unix epoch; an installer refuses a manifest older
    /// than one it has already accepted.
    pub release_timestamp: u64,
    pub sysroot: SysrootRelease,
    /// The `fastmusl` binaries, per host (absent in releases without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<InstallerRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallerRelease {
    pub version: String,
    /// By host triple (`x86_64-unknown-linux-musl`: static, runs on any
    /// x86_64 Linux).
    pub host: BTreeMap<String, Artifact>,
}

/// The file name of an installer binary.
pub fn installer_artifact_name(version: &str, host: &str) -> String {
    format!("fastmusl-{version}-{host}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysrootRelease {
    pub version: String,
    /// By Rust target triple.
    pub target: BTreeMap<String, SysrootArtifact>,
}

/// One target's sysroot archive, and how it will be wired: the `[wiring]`
/// table of the `fastmusl-sysroot.toml` inside it, so an installer can plan
/// before downloading (and check the archive says the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysrootArtifact {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub wiring: SysrootWiring,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Relative to the manifest's own URL.
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the channel manifest is not valid TOML of the expected shape: {0}")]
    Parse(#[from] toml::de::Error),
    #[error(
        "the channel manifest has manifest-version {found:?}; this fastmusl reads version \
         {MANIFEST_VERSION}. Update fastmusl (fastmusl self update)."
    )]
    UnsupportedVersion { found: String },
    #[error("the channel manifest's artifact URL {0:?} is not a plain relative file name")]
    BadUrl(String),
}

impl ChannelManifest {
    pub fn parse(text: &str) -> Result<ChannelManifest, ManifestError> {
        let manifest: ChannelManifest = toml::from_str(text)?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion {
                found: manifest.manifest_version,
            });
        }
        let installers = manifest.installer.iter().flat_map(|i| i.host.values());
        let sysroots = manifest.sysroot.target.values().map(|s| &s.artifact);
        for artifact in sysroots.chain(installers) {
            let url = &artifact.url;
            let plain = !url.is_empty()
                && !url.contains("..")
                && !url.starts_with('/')
                && !url.contains("://")
                && !url.contains('\\');
            if !plain {
                return Err(ManifestError::BadUrl(url.clone()));
            }
        }
        Ok(manifest)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChannelManifest {
        let mut target = BTreeMap::new();
        target.insert(
            "x86_64-unknown-linux-musl".to_owned(),
            SysrootArtifact {
                artifact: Artifact {
                    url: "a.tar.zst".to_owned(),
                    size: 3,
                    sha256: "00".repeat(32),
                },
                wiring: SysrootWiring {
                    linker: "bin/x86_64-unknown-linux-musl-ld".to_owned(),
                    cc: "bin/x86_64-unknown-linux-musl-cc".to_owned(),
                    ar: "bin/x86_64-unknown-linux-musl-ar".to_owned(),
                    rustflags: vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()],
                    runner: crate::sysroot::Runner {
                        emulator: "qemu-x86_64-static".to_owned(),
                        native_on: vec!["x86_64".to_owned()],
                    },
                },
            },
        );
        ChannelManifest {
            manifest_version: MANIFEST_VERSION.to_owned(),
            channel: "stable".to_owned(),
            date: "2026-03-20".to_owned(),
            release_timestamp: 1_773_964_800,
            sysroot: SysrootRelease {
                version: "v".to_owned(),
                target,
            },
            installer: None,
        }
    }

    #[test]
    fn round_trips_and_ignores_unknown_tables() {
        let text = sample().to_toml();
        assert_eq!(ChannelManifest::parse(&text).unwrap(), sample());
        let newer = format!("{text}\n[mirrors]\nurl = \"f\"\n");
        assert_eq!(ChannelManifest::parse(&newer).unwrap(), sample());
    }

    #[test]
    fn refuses_other_versions_and_escaping_urls() {
        let text = sample()
            .to_toml()
            .replace("manifest-version = \"1\"", "manifest-version = \"2\"");
        assert!(matches!(
            ChannelManifest::parse(&text),
            Err(ManifestError::UnsupportedVersion { .. })
        ));
        for bad in ["../x.tar.zst", "/etc/passwd", "https://elsewhere/x", ""] {
            let text = sample().to_toml().replace("a.tar.zst", bad);
            assert!(
                matches!(ChannelManifest::parse(&text), Err(ManifestError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
