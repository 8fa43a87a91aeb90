//! The image's documents (config, manifest per architecture, index) in the
//! `spec` types, their blobs by digest, and the two ways they are written
//! locally: an OCI image layout directory and an `oci-archive`.
//!
//! Documents are serialized canonically (keys sorted, no spaces): the same
//! image gets the same digest on every run, whatever order a map or a
//! foreign document's fields came in.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use fastmusl_dist::elf::OciPlatform;
use serde::Serialize;

use super::layer::{Layer, sha256_digest};
use super::spec::{
    Descriptor, History, ImageConfiguration, ImageIndex, ImageManifest, Platform, RootFs,
    RunConfig, media_type,
};

/// The annotation an OCI layout's `index.json` names a tag with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What every architecture's config holds in common.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `UID:GID`.
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, from `SOURCE_DATE_EPOCH` (or the epoch).
    pub created: String,
}

/// One blob: a layer, a config, a manifest or an index.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    fn json(media_type: &str, document: &impl Serialize) -> Result<Blob> {
        Ok(Blob::new(media_type, canonical_json(document)?))
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(&self.media_type, self.bytes.len() as u64, &self.digest)
    }
}

/// A built image: every blob, and the one document a tag names (the
/// manifest of a single-architecture image, else the index).
#[derive(Debug)]
pub struct Image {
    /// Layers and configs, in the order a registry must receive them.
    pub blobs: Vec<Blob>,
    /// One manifest per platform.
    pub manifests: Vec<(OciPlatform, Blob)>,
    /// The index of a multi-architecture image.
    pub index: Option<Blob>,
    /// The base layer's blob digest (the same in every image with the same
    /// base).
    pub base_layer: String,
}

impl Image {
    /// What a tag names.
    pub fn top(&self) -> &Blob {
        match &self.index {
            Some(index) => index,
            None => &self.manifests[0].1,
        }
    }

    /// Assembles the image from one shared base layer and one application
    /// layer per platform.
    pub fn assemble(
        base: &Layer,
        apps: &[(OciPlatform, Layer)],
        config: &RuntimeConfig,
    ) -> Result<Image> {
        let base_blob = Blob::new(media_type::LAYER_GZIP, base.blob.clone());
        let mut blobs = vec![base_blob.clone()];
        let mut manifests = Vec::new();
        for (platform, app) in apps {
            let app_blob = Blob::new(media_type::LAYER_GZIP, app.blob.clone());
            let config_blob = Blob::json(
                media_type::IMAGE_CONFIG,
                &image_config(platform, config, [&base.diff_id, &app.diff_id]),
            )?;
            let manifest = ImageManifest {
                schema_version: 2,
                media_type: media_type::IMAGE_MANIFEST.to_owned(),
                config: config_blob.descriptor(),
                layers: vec![base_blob.descriptor(), app_blob.descriptor()],
            };
            manifests.push((
                *platform,
                Blob::json(media_type::IMAGE_MANIFEST, &manifest)?,
            ));
            blobs.extend([app_blob, config_blob]);
        }
        let index = if manifests.len() > 1 {
            let entries = manifests
                .iter()
                .map(|(platform, blob)| Descriptor {
                    platform: Some(Platform {
                        architecture: platform.architecture.to_owned(),
                        os: "linux".to_owned(),
                        variant: platform.variant.map(str::to_owned),
                        other: Default::default(),
                    }),
                    ..blob.descriptor()
                })
                .collect();
            Some(Blob::json(
                media_type::IMAGE_INDEX,
                &ImageIndex::new(entries),
            )?)
        } else {
            None
        };
        Ok(Image {
            blobs,
            manifests,
            index,
            base_layer: base_blob.digest,
        })
    }

    fn every_blob(&self) -> impl Iterator<Item = &Blob> {
        self.blobs
            .iter()
            .chain(self.manifests.iter().map(|(_, blob)| blob))
            .chain(self.index.iter())
    }

    /// Writes (or adds to) an OCI image layout: blobs first, `index.json`
    /// last and by rename, so an interrupted write leaves the layout as it
    /// was plus unreferenced blobs. A tag already in the layout is replaced;
    /// other tags stay.
    pub fn write_layout(&self, dir: &Path, tag: &str) -> Result<()> {
        let layout_file = dir.join("oci-layout");
        let index_file = dir.join("index.json");
        let mut others = Vec::new();
        if dir.exists() {
            let is_empty = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
            if !is_empty {
                if !layout_file.is_file() || !index_file.is_file() {
                    bail!(
                        "{} is neither empty nor an OCI image layout (no oci-layout and \
                         index.json): give a new or empty directory",
                        dir.display()
                    );
                }
                let index: ImageIndex = serde_json::from_slice(&std::fs::read(&index_file)?)
                    .with_context(|| format!("reading {}", index_file.display()))?;
                others = index
                    .manifests
                    .into_iter()
                    .filter(|d| ref_name(d) != Some(tag))
                    .collect();
            }
        }
        let blob_dir = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir)
            .with_context(|| format!("creating {}", blob_dir.display()))?;
        for blob in self.every_blob() {
            write_atomically(&blob_dir.join(hex_of(&blob.digest)), &blob.bytes)?;
        }
        write_atomically(&layout_file, LAYOUT_VERSION.as_bytes())?;
        let mut manifests = others;
        manifests.push(self.tagged_descriptor(tag));
        write_atomically(&index_file, &layout_index(manifests)?)
    }

    /// Writes an `oci-archive`: a tar of a fresh layout, with fixed owners,
    /// modes and mtimes so the same image gives the same archive.
    pub fn write_archive(&self, file: &Path, tag: &str) -> Result<()> {
        write_atomically(file, &self.archive(tag)?)
    }

    /// The `oci-archive` bytes, its index naming the image `ref_name`.
    pub fn archive(&self, ref_name: &str) -> Result<Vec<u8>> {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        files.insert("oci-layout".into(), LAYOUT_VERSION.as_bytes().to_vec());
        files.insert(
            "index.json".into(),
            layout_index(vec![self.tagged_descriptor(ref_name)])?,
        );
        for blob in self.every_blob() {
            files.insert(
                format!("blobs/sha256/{}", hex_of(&blob.digest)),
                blob.bytes.clone(),
            );
        }
        let mut entries = super::layer::Entries::default();
        for (path, bytes) in files {
            entries.file(&path, 0o644, (0, 0), bytes);
        }
        super::layer::plain_tar(&entries.with_parents(), 0)
    }

    fn tagged_descriptor(&self, tag: &str) -> Descriptor {
        Descriptor {
            annotations: Some(BTreeMap::from([(REF_NAME.to_owned(), tag.to_owned())])),
            ..self.top().descriptor()
        }
    }
}

const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

fn layout_index(manifests: Vec<Descriptor>) -> Result<Vec<u8>> {
    canonical_json(&ImageIndex::new(manifests))
}

pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotation(REF_NAME)
}

fn image_config(
    platform: &OciPlatform,
    config: &RuntimeConfig,
    diff_ids: [&String; 2],
) -> ImageConfiguration {
    let history = |created_by: &str| History {
        created: config.created.clone(),
        created_by: created_by.to_owned(),
    };
    ImageConfiguration {
        created: config.created.clone(),
        architecture: platform.architecture.to_owned(),
        os: "linux".to_owned(),
        variant: platform.variant.map(str::to_owned),
        config: RunConfig {
            user: config.user.clone(),
            exposed_ports: (!config.exposed_ports.is_empty()).then(|| {
                config
                    .exposed_ports
                    .iter()
                    .map(|port| (port.clone(), Default::default()))
                    .collect()
            }),
            env: config.env.clone(),
            entrypoint: config.entrypoint.clone(),
            cmd: (!config.cmd.is_empty()).then(|| config.cmd.clone()),
            working_dir: config.working_dir.clone(),
            labels: config.labels.clone(),
        },
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids: diff_ids.map(String::clone).to_vec(),
        },
        history: vec![
            history("fastmusl image: base (CA bundle, users, /tmp)"),
            history("fastmusl image: application"),
        ],
    }
}

/// JSON with sorted keys and no whitespace: through `serde_json::Value`,
/// whose maps are ordered (serde_json without `preserve_order`).
pub fn canonical_json(document: &impl Serialize) -> Result<Vec<u8>> {
    let value = serde_json::to_value(document)?;
    Ok(serde_json::to_vec(&value)?)
}

pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("fastmusl-tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_hash_map_keys() {
        let map: std::collections::HashMap<String, u32> =
            (0..50).map(|i| (format!("k{i:02}"), i)).collect();
        let json = String::from_utf8(canonical_json(&map).unwrap()).unwrap();
        let keys: Vec<&str> = json
            .match_indices("\"k")
            .map(|(i, _)| &json[i..i + 4])
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    fn tiny_image(cmd: &str) -> Image {
        let mut entries = super::super::layer::Entries::default();
        entries.file("etc/x", 0o644, (0, 0), b"x".to_vec());
        let base = Layer::build(&entries, 0).unwrap();
        let app = Layer::build(
            &super::super::rootfs::app_entries(b"\x7fELF".to_vec(), "/app/a"),
            0,
        )
        .unwrap();
        let platform = OciPlatform {
            architecture: "amd64",
            variant: None,
        };
        let config = RuntimeConfig {
            user: "65532:65532".into(),
            entrypoint: vec!["/app/a".into()],
            cmd: vec![cmd.into()],
            env: vec![],
            working_dir: "/".into(),
            exposed_ports: vec![],
            labels: BTreeMap::new(),
            created: "1970-01-01T00:00:00Z".into(),
        };
        Image::assemble(&base, &[(platform, app)], &config).unwrap()
    }

    fn tags_in(dir: &Path) -> Vec<(String, String)> {
        let index: ImageIndex =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index
            .manifests
            .iter()
            .map(|d| (ref_name(d).unwrap().to_owned(), d.digest.clone()))
            .collect()
    }

    #[test]
    fn a_layout_keeps_other_tags_replaces_its_own_and_refuses_a_foreign_directory() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let (one, two) = (tiny_image("one"), tiny_image("two"));
        assert_ne!(one.top().digest, two.top().digest);
        one.write_layout(&layout, "v1").unwrap();
        two.write_layout(&layout, "v2").unwrap();
        assert_eq!(
            tags_in(&layout),
            [
                ("v1".to_owned(), one.top().digest.clone()),
                ("v2".to_owned(), two.top().digest.clone())
            ]
        );
        two.write_layout(&layout, "v1").unwrap();
        assert_eq!(
            tags_in(&layout),
            [
                ("v2".to_owned(), two.top().digest.clone()),
                ("v1".to_owned(), two.top().digest.clone())
            ]
        );
        for blob in two.every_blob() {
            let stored =
                std::fs::read(layout.join("blobs/sha256").join(hex_of(&blob.digest))).unwrap();
            assert_eq!(sha256_digest(&stored), blob.digest);
        }

        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let err = one.write_layout(&foreign, "v1").unwrap_err().to_string();
        assert!(
            err.contains("neither empty nor an OCI image layout"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
    }
}
