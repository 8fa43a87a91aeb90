//! Signatures in cosign's key-based format, so that `cosign verify --key`
//! and anyone with openssl can check them, and the DSSE envelopes of
//! attestations:
//!
//! - a signature of manifest `sha256:<hex>` is an image manifest tagged
//!   `sha256-<hex>.sig` whose layers are simple-signing payloads (JSON
//!   naming the repository and the digest), each with its ECDSA P-256
//!   SHA-256 signature (ASN.1 DER, base64) in the annotation
//!   `dev.cosignproject.cosign/signature`;
//! - an attestation is tagged `sha256-<hex>.att`: its layers are DSSE
//!   envelopes (`application/vnd.dsse.envelope.v1+json`) whose signature
//!   covers the envelope's pre-authentication encoding of an in-toto
//!   statement.
//!
//! Keys are P-256: the private half unencrypted PKCS#8 PEM, the public
//! half SubjectPublicKeyInfo PEM (cosign's `cosign.pub`). Signing is
//! deterministic (RFC 6979), so signing the same payload twice gives the
//! same signature and the same manifests.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde_json::{Value, json};

use super::oci::{Blob, canonical_json};
use super::spec::media_type;

pub const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag cosign keeps the signatures (`sig`) or attestations (`att`) of
/// `digest` under.
pub fn cosign_tag(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replacen(':', "-", 1))
}

/// Writes a new key pair: `PREFIX.key` (PKCS#8 PEM, mode 0600) and
/// `PREFIX.pub`; refuses to replace either.
pub fn keygen(prefix: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let with = |extension: &str| {
        let mut path = prefix.as_os_str().to_owned();
        path.push(extension);
        std::path::PathBuf::from(path)
    };
    let (private, public) = (with(".key"), with(".pub"));
    for path in [&private, &public] {
        if path.exists() {
            bail!(
                "{} exists: fastmusl does not replace a key; remove it or choose another \
                 --output-key-prefix",
                path.display()
            );
        }
    }
    let key = SigningKey::random(&mut rand_core::OsRng);
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")?;
    write_new(&private, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    Ok((private, public))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// A private key read from a PKCS#8 PEM file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    if pem.contains("ENCRYPTED") {
        bail!(
            "{} is an encrypted key; fastmusl reads unencrypted PKCS#8 PEM (`fastmusl image \
             keygen` writes one; `openssl pkcs8 -topk8 -nocrypt` decrypts one)",
            path.display()
        );
    }
    SigningKey::from_pkcs8_pem(&pem).with_context(|| {
        format!(
            "{} is not a P-256 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)",
            path.display()
        )
    })
}

/// A public key read from a PEM file (`cosign.pub`).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem).with_context(|| {
        format!(
            "{} is not a P-256 public key in PEM (-----BEGIN PUBLIC KEY-----)",
            path.display()
        )
    })
}

/// Base64 of the DER signature of `message` (ECDSA P-256, SHA-256).
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    let signature: Signature = key.sign(message);
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

/// Whether `signature` (base64 DER) signs `message` with `key`.
pub fn verifies(key: &VerifyingKey, message: &[u8], signature: &str) -> bool {
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// cosign's simple-signing payload for `digest` in `repository`
/// (`registry/name`, no tag).
pub fn simple_signing_payload(repository: &str, digest: &str) -> Result<Vec<u8>> {
    canonical_json(&json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": null,
    }))
}

/// The digest a simple-signing payload names, if it is one.
pub fn signed_digest(payload: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    if value["critical"]["type"] != COSIGN_SIGNATURE_TYPE {
        return None;
    }
    value["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(str::to_owned)
}

/// DSSE's pre-authentication encoding, which is what an envelope's
/// signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope of an in-toto statement, signed with `key`.
pub fn dsse_envelope(key: &SigningKey, statement: &[u8]) -> Result<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    canonical_json(&json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": b64.encode(statement),
        "signatures": [{"keyid": "", "sig": sign(key, &pae(IN_TOTO_PAYLOAD_TYPE, statement))}],
    }))
}

/// The statement of an envelope whose signature `key` makes, or why not.
pub fn open_dsse_envelope(key: &VerifyingKey, envelope: &[u8]) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let value: Value =
        serde_json::from_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    let payload_type = value["payloadType"].as_str().unwrap_or_default();
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!("payload type `{payload_type}`, not in-toto"));
    }
    let statement = value["payload"]
        .as_str()
        .and_then(|p| b64.decode(p).ok())
        .ok_or("no base64 payload")?;
    let message = pae(payload_type, &statement);
    let signed = value["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["sig"].as_str())
        .any(|sig| verifies(key, &message, sig));
    if signed {
        Ok(statement)
    } else {
        Err("no signature in the envelope verifies with the key".into())
    }
}

/// One layer of a cosign signature or attestation manifest.
pub struct SignedLayer {
    pub media_type: &'static str,
    pub content: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// The manifest cosign keeps under `sha256-<hex>.sig`/`.att`: `existing`'s
/// layers (if any) and `layer` unless one with the same content and
/// annotations is there; its blobs (config and every new layer) and
/// whether anything changed.
pub fn cosign_manifest(
    existing: Option<&[u8]>,
    layer: SignedLayer,
) -> Result<(Blob, Vec<Blob>, bool)> {
    let content = Blob::new(layer.media_type, layer.content);
    let mut descriptor = json!({
        "mediaType": layer.media_type,
        "digest": content.digest,
        "size": content.bytes.len(),
    });
    if !layer.annotations.is_empty() {
        descriptor["annotations"] = json!(layer.annotations);
    }
    let mut layers: Vec<Value> = match existing {
        Some(bytes) => {
            let manifest: Value = serde_json::from_slice(bytes)
                .context("the signature tag holds something that is not a manifest")?;
            manifest["layers"].as_array().cloned().unwrap_or_default()
        }
        None => Vec::new(),
    };
    let present = layers.iter().any(|l| {
        l["digest"] == descriptor["digest"] && l["annotations"] == descriptor["annotations"]
    });
    if !present {
        layers.push(descriptor);
    }
    // cosign's config: an image config whose diff_ids are the layers'.
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = Blob::new(
        media_type::IMAGE_CONFIG,
        canonical_json(&json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }))?,
    );
    let manifest = Blob::new(
        media_type::IMAGE_MANIFEST,
        canonical_json(&json!({
            "schemaVersion": 2,
            "mediaType": media_type::IMAGE_MANIFEST,
            "config": {
                "mediaType": media_type::IMAGE_CONFIG,
                "digest": config.digest,
                "size": config.bytes.len(),
            },
            "layers": layers,
        }))?,
    );
    Ok((manifest, vec![config, content], !present))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn signatures_verify_only_with_their_key_and_message() {
        let payload = simple_signing_payload("r.example/app", "sha256:ab").unwrap();
        assert_eq!(signed_digest(&payload).as_deref(), Some("sha256:ab"));
        let signature = sign(&key(), &payload);
        assert_eq!(signature, sign(&key(), &payload), "RFC 6979");
        assert!(verifies(key().verifying_key(), &payload, &signature));
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        assert!(!verifies(other.verifying_key(), &payload, &signature));
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(!verifies(key().verifying_key(), &tampered, &signature));
    }

    #[test]
    fn envelopes_open_with_their_key() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        );
        let envelope = dsse_envelope(&key(), b"{\"_type\":\"x\"}").unwrap();
        assert_eq!(
            open_dsse_envelope(key().verifying_key(), &envelope).unwrap(),
            b"{\"_type\":\"x\"}"
        );
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        assert!(open_dsse_envelope(other.verifying_key(), &envelope).is_err());
    }

    #[test]
    fn a_signature_is_added_once_beside_others() {
        let layer = |content: &[u8], sig: &str| SignedLayer {
            media_type: SIMPLE_SIGNING_TYPE,
            content: content.to_vec(),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), sig.to_owned())]),
        };
        let (first, _, changed) = cosign_manifest(None, layer(b"p", "s1")).unwrap();
        assert!(changed);
        let (same, _, changed) = cosign_manifest(Some(&first.bytes), layer(b"p", "s1")).unwrap();
        assert!(!changed);
        assert_eq!(same.digest, first.digest);
        let (two, _, changed) = cosign_manifest(Some(&first.bytes), layer(b"p", "s2")).unwrap();
        assert!(changed);
        let manifest: Value = serde_json::from_slice(&two.bytes).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn keygen_writes_a_pair_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("cosign");
        let (private, public) = keygen(&prefix).unwrap();
        let key = read_signing_key(&private).unwrap();
        let public = read_verifying_key(&public).unwrap();
        assert_eq!(key.verifying_key(), &public);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = keygen(&prefix).unwrap_err().to_string();
        assert!(err.contains("does not replace a key"), "{err}");
    }
}
