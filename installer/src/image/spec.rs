//! The OCI image-spec documents fastmusl writes and reads (descriptor,
//! platform, image manifest, image index, image configuration), as plain
//! serde types. Only the fields fastmusl sets are typed; a document read
//! from elsewhere (an OCI layout's `index.json`) keeps every other field in
//! `other`, so writing it back loses nothing.
//!
//! (These replace the `oci-spec` crate, whose digest checks pull `regex`
//! into the installer: about 760 KB of the binary for a few structs.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media types of the image-spec that fastmusl writes.
pub mod media_type {
    pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Fields fastmusl does not set (`artifactType`, `urls`, `data`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Descriptor {
    pub fn new(media_type: &str, size: u64, digest: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_owned(),
            size,
            platform: None,
            annotations: None,
            other: Map::new(),
        }
    }

    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The platform an index entry's manifest is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version`, `os.features`, `features`.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An image index (a multi-platform image, or an OCI layout's
/// `index.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    /// `artifactType`, `subject`, `annotations`.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_type::IMAGE_INDEX.to_owned()),
            manifests,
            other: Map::new(),
        }
    }
}

/// The manifest of one platform's image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image's configuration: its platform, how it runs, its layers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageConfiguration {
    pub created: String,
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub config: RunConfig,
    pub rootfs: RootFs,
    pub history: Vec<History>,
}

/// How a container of the image runs (the config's `config`, in the
/// Docker-derived capitalised keys the spec keeps).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    pub user: String,
    /// `{"8080/tcp": {}}`, a Go set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Map<String, Value>>>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub created: String,
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `index.json` written by another tool keeps what fastmusl does not
    /// type when fastmusl rewrites it.
    #[test]
    fn a_foreign_index_round_trips_with_its_other_fields() {
        let text = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ab","size":7,"urls":["https://x"],"artifactType":"a/b","platform":{"architecture":"arm64","os":"linux","variant":"v8","os.features":["f"]},"annotations":{"org.opencontainers.image.ref.name":"v1"}}],"annotations":{"k":"v"}}"#;
        let index: ImageIndex = serde_json::from_str(text).unwrap();
        assert_eq!(
            index.manifests[0].annotation("org.opencontainers.image.ref.name"),
            Some("v1")
        );
        assert_eq!(
            index.manifests[0]
                .platform
                .as_ref()
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        let again: Value = serde_json::to_value(&index).unwrap();
        assert_eq!(again, serde_json::from_str::<Value>(text).unwrap());
    }
}
