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

use crate::{flavor, sysroot::SysrootWiring};

pub const MANIFEST_VERSION: &str = "1";

/// The file name of a channel's manifest (`channel-stable.toml`).
pub fn manifest_file_name(channel: &str) -> String {
    format!("channel-{channel}.toml")
}

/// The file name of a sysroot artifact: `fastmusl-sysroot-V-TRIPLE.tar.zst`
/// for the default flavor (as before flavors existed),
/// `fastmusl-sysroot-V-FLAVOR-TRIPLE.tar.zst` for another.
pub fn sysroot_artifact_name(version: &str, flavor: &str, triple: &str) -> String {
    if flavor == flavor::DEFAULT {
        format!("fastmusl-sysroot-{version}-{triple}.tar.zst")
    } else {
        format!("fastmusl-sysroot-{version}-{flavor}-{triple}.tar.zst")
    }
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
    /// One line on the default flavor, from the pipeline's table, as
    /// `FlavorRelease::summary` is for the others. Absent in releases made
    /// before; older installers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The default flavor's sysroots, by Rust target triple: the table
    /// every installer reads, including those that know no flavors.
    pub target: BTreeMap<String, SysrootArtifact>,
    /// The other flavors (`[sysroot.flavor.secure]`), by name; older
    /// installers ignore this table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flavor: BTreeMap<String, FlavorRelease>,
}

/// The sysroots of one flavor other than the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorRelease {
    /// One line on what it is, for `fastmusl target list`.
    pub summary: String,
    /// By Rust target triple.
    pub target: BTreeMap<String, SysrootArtifact>,
}

impl SysrootRelease {
    /// The sysroot of `triple` in `flavor`, if the release has one.
    pub fn artifact(&self, flavor: &str, triple: &str) -> Option<&SysrootArtifact> {
        if flavor == flavor::DEFAULT {
            self.target.get(triple)
        } else {
            self.flavor.get(flavor)?.target.get(triple)
        }
    }

    /// One line on what `flavor` is, if the release says.
    pub fn flavor_summary(&self, flavor: &str) -> Option<&str> {
        if flavor == flavor::DEFAULT {
            self.summary.as_deref()
        } else {
            self.flavor.get(flavor).map(|f| f.summary.as_str())
        }
    }

    /// The flavors the release offers, the default first.
    pub fn flavors(&self) -> Vec<&str> {
        std::iter::once(flavor::DEFAULT)
            .chain(self.flavor.keys().map(String::as_str))
            .collect()
    }

    /// Every sysroot artifact, in every flavor.
    pub fn artifacts(&self) -> impl Iterator<Item = &SysrootArtifact> {
        self.target
            .values()
            .chain(self.flavor.values().flat_map(|f| f.target.values()))
    }
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
    #[error("the channel manifest names a sysroot flavor {0:?}, which is not a flavor name")]
    BadFlavor(String),
}

impl ChannelManifest {
    pub fn parse(text: &str) -> Result<ChannelManifest, ManifestError> {
        let manifest: ChannelManifest = toml::from_str(text)?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion {
                found: manifest.manifest_version,
            });
        }
        if let Some(bad) = manifest
            .sysroot
            .flavor
            .keys()
            .find(|name| !flavor::is_valid_name(name) || *name == flavor::DEFAULT)
        {
            return Err(ManifestError::BadFlavor(bad.clone()));
        }
        let installers = manifest.installer.iter().flat_map(|i| i.host.values());
        let sysroots = manifest.sysroot.artifacts().map(|s| &s.artifact);
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
                    cxx: Some("bin/x86_64-unknown-linux-musl-c++".to_owned()),
                    cxxstdlib: Some("c++".to_owned()),
                    rustflags: vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()],
                    platform: Some("linux/amd64".to_owned()),
                    build_std_toolchain: None,
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
                summary: Some("fast".to_owned()),
                flavor: BTreeMap::from([(
                    "secure".to_owned(),
                    FlavorRelease {
                        summary: "hardened".to_owned(),
                        target: target.clone(),
                    },
                )]),
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
        for bad in ["default", "Secure", "x86_64-unknown-linux-musl"] {
            let text = sample().to_toml().replace(
                "[sysroot.flavor.secure",
                &format!("[sysroot.flavor.{bad:?}"),
            );
            assert!(
                matches!(
                    ChannelManifest::parse(&text),
                    Err(ManifestError::BadFlavor(_))
                ),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn a_reader_without_flavors_sees_the_default_flavor_only() {
        /// `SysrootRelease` as installers before flavors declared it.
        #[derive(Deserialize)]
        struct OldChannel {
            sysroot: OldSysroot,
        }
        #[derive(Deserialize)]
        struct OldSysroot {
            target: BTreeMap<String, SysrootArtifact>,
        }
        let manifest = sample();
        let old: OldChannel = toml::from_str(&manifest.to_toml()).unwrap();
        assert_eq!(old.sysroot.target, manifest.sysroot.target);
        let secure = manifest
            .sysroot
            .artifact("secure", "x86_64-unknown-linux-musl")
            .unwrap();
        assert_eq!(
            secure,
            &manifest.sysroot.target["x86_64-unknown-linux-musl"]
        );
        assert_eq!(manifest.sysroot.flavors(), ["default", "secure"]);
        assert_eq!(manifest.sysroot.flavor_summary("default"), Some("fast"));
        assert_eq!(manifest.sysroot.flavor_summary("secure"), Some("hardened"));
        // A release from before the default flavor's summary still reads.
        let before = manifest.to_toml().replace("summary = \"fast\"\n", "");
        assert_ne!(before, manifest.to_toml());
        let before = ChannelManifest::parse(&before).unwrap();
        assert_eq!(before.sysroot.flavor_summary("default"), None);
        assert!(
            manifest
                .sysroot
                .artifact("fast", "x86_64-unknown-linux-musl")
                .is_none()
        );
        assert_eq!(
            sysroot_artifact_name("v1", "secure", "x86_64-unknown-linux-musl"),
            "fastmusl-sysroot-v1-secure-x86_64-unknown-linux-musl.tar.zst"
        );
    }
}
