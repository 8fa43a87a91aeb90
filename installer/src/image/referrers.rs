//! Things attached to an image after it is built (SBOMs, and signatures'
//! and attestations' documents), as OCI 1.1 artifacts: a manifest whose
//! `subject` names the image manifest or index it is about, with an
//! `artifactType`, the empty config and one layer.
//!
//! A registry with the referrers API says so by answering the manifest's
//! `PUT` with an `OCI-Subject` header, and lists referrers itself. One
//! without (Debian's docker-registry 2.8 among them) needs the
//! distribution spec's fallback: the client keeps an index of referrers
//! under the tag `sha256-<hex of the subject>`. [`add_to_referrers_index`]
//! is that index's update, shared by registries and OCI layouts; adding an
//! artifact already listed changes nothing.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::oci::{Blob, REF_NAME, canonical_json, hex_of, ref_name, write_atomically};
use super::spec::{Descriptor, ImageIndex, media_type};

/// The empty config of artifacts (`{}`), as the image spec defines it.
pub const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// One artifact: its manifest and the blobs it names (the empty config and
/// its layer).
#[derive(Debug, Clone)]
pub struct Artifact {
    /// What it is, for messages ("the SBOM of linux/arm64").
    pub what: String,
    pub artifact_type: String,
    pub manifest: Blob,
    pub blobs: Vec<Blob>,
    /// The digest of the manifest or index it is about.
    pub subject: String,
    /// Its manifest's annotations (copied into the referrers index).
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// An artifact of `artifact_type` about `subject` whose one layer is
    /// `content` (of `layer_type`, with `layer_annotations`).
    pub fn new(
        what: String,
        subject: &Blob,
        artifact_type: &str,
        content: Vec<u8>,
        layer_type: &str,
        layer_annotations: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> Result<Artifact> {
        let config = Blob::new(EMPTY_CONFIG_TYPE, b"{}".to_vec());
        let layer = Blob::new(layer_type, content);
        let mut layer_descriptor = descriptor(&layer);
        if !layer_annotations.is_empty() {
            layer_descriptor["annotations"] = json!(layer_annotations);
        }
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::IMAGE_MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": EMPTY_CONFIG_TYPE,
                "digest": config.digest,
                "size": 2,
                "data": "e30=",
            },
            "layers": [layer_descriptor],
            "subject": descriptor(subject),
        });
        if !annotations.is_empty() {
            manifest["annotations"] = json!(annotations);
        }
        Ok(Artifact {
            what,
            artifact_type: artifact_type.to_owned(),
            manifest: Blob::new(media_type::IMAGE_MANIFEST, canonical_json(&manifest)?),
            blobs: vec![config, layer],
            subject: subject.digest.clone(),
            annotations,
        })
    }

    /// How the referrers index lists it.
    pub fn referrer_descriptor(&self) -> Value {
        let mut d = descriptor(&self.manifest);
        d["artifactType"] = json!(self.artifact_type);
        if !self.annotations.is_empty() {
            d["annotations"] = json!(self.annotations);
        }
        d
    }
}

fn descriptor(blob: &Blob) -> Value {
    json!({
        "mediaType": blob.media_type,
        "digest": blob.digest,
        "size": blob.bytes.len(),
    })
}

/// The fallback tag listing the referrers of `subject` (`sha256:<hex>`).
pub fn referrers_tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// The referrers index with `artifact` added, from the index found under
/// the fallback tag (`None`: no such tag yet); `None` when it is already
/// listed.
pub fn add_to_referrers_index(
    existing: Option<&[u8]>,
    artifact: &Artifact,
) -> Result<Option<Blob>> {
    let mut index: Value = match existing {
        Some(bytes) => serde_json::from_slice(bytes)
            .context("the referrers tag holds something that is not an image index")?,
        None => json!({
            "schemaVersion": 2,
            "mediaType": media_type::IMAGE_INDEX,
            "manifests": [],
        }),
    };
    let manifests = index["manifests"]
        .as_array_mut()
        .context("the referrers tag's index has no manifests list")?;
    if manifests
        .iter()
        .any(|m| m["digest"] == json!(artifact.manifest.digest))
    {
        return Ok(None);
    }
    manifests.push(artifact.referrer_descriptor());
    Ok(Some(Blob::new(
        media_type::IMAGE_INDEX,
        canonical_json(&index)?,
    )))
}

/// Adds artifacts to an OCI layout written before: their blobs, their
/// manifests, and each into the referrers index under its subject's
/// fallback tag (`sha256-<hex>`), as a registry without the referrers API
/// keeps them. An artifact already listed is not listed twice.
pub fn attach_in_layout(dir: &Path, artifacts: &[Artifact]) -> Result<()> {
    let index_file = dir.join("index.json");
    let blob_dir = dir.join("blobs/sha256");
    let mut index: ImageIndex = serde_json::from_slice(&std::fs::read(&index_file)?)
        .with_context(|| format!("reading {}", index_file.display()))?;
    let mut manifests = std::mem::take(&mut index.manifests);
    for artifact in artifacts {
        for blob in artifact.blobs.iter().chain([&artifact.manifest]) {
            write_atomically(&blob_dir.join(hex_of(&blob.digest)), &blob.bytes)?;
        }
        let tag = referrers_tag(&artifact.subject);
        let position = manifests.iter().position(|d| ref_name(d) == Some(&tag));
        let existing = match position {
            Some(i) => Some(
                std::fs::read(blob_dir.join(hex_of(&manifests[i].digest)))
                    .with_context(|| format!("reading the referrers index {tag}"))?,
            ),
            None => None,
        };
        let Some(updated) = add_to_referrers_index(existing.as_deref(), artifact)? else {
            continue;
        };
        write_atomically(&blob_dir.join(hex_of(&updated.digest)), &updated.bytes)?;
        let descriptor = Descriptor {
            annotations: Some(BTreeMap::from([(REF_NAME.to_owned(), tag)])),
            ..updated.descriptor()
        };
        match position {
            Some(i) => manifests[i] = descriptor,
            None => manifests.push(descriptor),
        }
    }
    index.manifests = manifests;
    write_atomically(&index_file, &canonical_json(&index)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_is_listed_once_under_its_subject_s_tag() {
        let subject = Blob::new(media_type::IMAGE_MANIFEST, b"{\"x\":1}".to_vec());
        let sbom = Artifact::new(
            "the SBOM".into(),
            &subject,
            "application/spdx+json",
            b"{}".to_vec(),
            "application/spdx+json",
            BTreeMap::new(),
            BTreeMap::from([(
                "org.opencontainers.image.created".into(),
                "1970-01-01T00:00:00Z".into(),
            )]),
        )
        .unwrap();
        let manifest: Value = serde_json::from_slice(&sbom.manifest.bytes).unwrap();
        assert_eq!(manifest["subject"]["digest"], json!(subject.digest));
        assert_eq!(
            manifest["config"]["digest"],
            json!("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
        assert_eq!(
            referrers_tag(&subject.digest),
            subject.digest.replace("sha256:", "sha256-")
        );

        let first = add_to_referrers_index(None, &sbom).unwrap().unwrap();
        assert_eq!(
            add_to_referrers_index(Some(&first.bytes), &sbom)
                .unwrap()
                .map(|b| b.digest),
            None
        );
        let other = Artifact::new(
            "another".into(),
            &subject,
            "application/vnd.example",
            b"x".to_vec(),
            "application/octet-stream",
            BTreeMap::new(),
            BTreeMap::new(),
        )
        .unwrap();
        let second = add_to_referrers_index(Some(&first.bytes), &other)
            .unwrap()
            .unwrap();
        let index: Value = serde_json::from_slice(&second.bytes).unwrap();
        let listed: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["artifactType"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["application/spdx+json", "application/vnd.example"]);
    }
}
