//! `fastmusl image verify REF --key PUB`: is what the registry serves
//! under REF signed with this key, and does its provenance say so too?
//!
//! The document REF names is fetched and hashed here; the signature that
//! counts is one whose payload names that digest and whose signature
//! verifies with the key. For an index, each platform manifest it lists
//! must be signed too. Then the attestation of the same digest: a DSSE
//! envelope the key signed, an in-toto statement with the SLSA provenance
//! v1 predicate, whose subjects name the digest and every platform
//! manifest. A tampered manifest has another digest and so no signature;
//! a signature moved from another image names that image's digest; a
//! wrong key verifies nothing: each is refused, saying which.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use p256::ecdsa::VerifyingKey;
use serde_json::Value;

use super::oci::hex_of;
use super::provenance;
use super::reference::Reference;
use super::registry::{AccessArgs, Registry};
use super::signing;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST.
    #[arg(value_name = "REF")]
    reference: String,
    /// The public key (PEM, as `fastmusl image keygen` or `cosign
    /// generate-key-pair` writes it).
    #[arg(long, value_name = "PUB")]
    key: PathBuf,
    #[command(flatten)]
    access: AccessArgs,
}

/// The largest signature payload or envelope read.
const MAX_SIGNED_BLOB: u64 = 4 << 20;

pub fn run(args: &VerifyArgs, out: &crate::Output) -> Result<()> {
    let key = signing::read_verifying_key(&args.key)?;
    let (name, pinned) = match args.reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (args.reference.as_str(), None),
    };
    let reference = Reference::parse(name, Some("latest")).context("the image reference")?;
    let mut registry = Registry::connect(&reference, &args.access)?;
    let wanted = pinned.unwrap_or(&reference.tag);
    let top = registry
        .get_manifest(wanted)?
        .with_context(|| format!("{reference}: the registry has no {wanted}"))?;
    let digest = top.digest.clone();

    let document: Value =
        serde_json::from_slice(&top.bytes).context("the image's manifest is not JSON")?;
    let mut signed = vec![digest.clone()];
    if let Some(manifests) = document["manifests"].as_array() {
        for m in manifests {
            let d = m["digest"]
                .as_str()
                .context("an index entry without a digest")?;
            signed.push(d.to_owned());
        }
    }
    for d in &signed {
        check_signature(&mut registry, &key, d)
            .with_context(|| format!("{reference}: verifying the signature of {d}"))?;
    }
    let statement = check_provenance(&mut registry, &key, &digest, &signed)
        .with_context(|| format!("{reference}: verifying the provenance of {digest}"))?;
    let external = &statement["predicate"]["buildDefinition"]["externalParameters"];
    let builder = statement["predicate"]["runDetails"]["builder"]["id"]
        .as_str()
        .unwrap_or("?");
    let from = external["source"]
        .as_str()
        .unwrap_or("binaries built before");
    out.info(&format!(
        "verified {reference}@{digest}: {} signature{} and the SLSA provenance (built from {from} \
         by {builder})",
        signed.len(),
        if signed.len() == 1 { "" } else { "s" },
    ));
    if out.verbose {
        eprintln!("{}", serde_json::to_string_pretty(&statement)?);
    }
    Ok(())
}

/// One signature in `sha256-<hex>.sig` names `digest` and verifies.
fn check_signature(registry: &mut Registry, key: &VerifyingKey, digest: &str) -> Result<()> {
    let tag = signing::cosign_tag(digest, "sig");
    let manifest = registry
        .get_manifest(&tag)?
        .with_context(|| format!("it is not signed: the registry has no {tag}"))?;
    let manifest: Value = serde_json::from_slice(&manifest.bytes)?;
    let mut seen = Vec::new();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        if layer["mediaType"] != signing::SIMPLE_SIGNING_TYPE {
            continue;
        }
        let (Some(blob), Some(signature)) = (
            layer["digest"].as_str(),
            layer["annotations"][signing::SIGNATURE_ANNOTATION].as_str(),
        ) else {
            continue;
        };
        let payload = registry.get_blob(blob, MAX_SIGNED_BLOB)?;
        let names = signing::signed_digest(&payload);
        let verified = signing::verifies(key, &payload, signature);
        match (names.as_deref(), verified) {
            (Some(d), true) if d == digest => return Ok(()),
            (Some(d), true) => seen.push(format!("a signature of another image ({d})")),
            (_, false) => seen.push("a signature that does not verify with the key".into()),
            (None, true) => seen.push("a signed payload that names no image".into()),
        }
    }
    if seen.is_empty() {
        bail!("{tag} holds no signature");
    }
    bail!(
        "no signature of it verifies with the key; {tag} holds {}",
        seen.join(", ")
    )
}

/// The attestation of `digest` is a DSSE envelope the key signed, holding
/// an SLSA provenance v1 statement about `digest` and `platform_manifests`.
fn check_provenance(
    registry: &mut Registry,
    key: &VerifyingKey,
    digest: &str,
    subjects: &[String],
) -> Result<Value> {
    let tag = signing::cosign_tag(digest, "att");
    let manifest = registry
        .get_manifest(&tag)?
        .with_context(|| format!("it has no attestation: the registry has no {tag}"))?;
    let manifest: Value = serde_json::from_slice(&manifest.bytes)?;
    let mut seen = Vec::new();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let Some(blob) = layer["digest"]
            .as_str()
            .filter(|_| layer["mediaType"] == signing::DSSE_TYPE)
        else {
            continue;
        };
        let envelope = registry.get_blob(blob, MAX_SIGNED_BLOB)?;
        let statement = match signing::open_dsse_envelope(key, &envelope) {
            Ok(statement) => statement,
            Err(why) => {
                seen.push(why);
                continue;
            }
        };
        let statement: Value =
            serde_json::from_slice(&statement).context("the attested statement is not JSON")?;
        if statement["_type"] != provenance::STATEMENT_TYPE
            || statement["predicateType"] != provenance::PREDICATE_TYPE
        {
            seen.push(format!(
                "a statement of {} that is not SLSA provenance v1",
                statement["predicateType"]
            ));
            continue;
        }
        let named: Vec<&str> = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["digest"]["sha256"].as_str())
            .collect();
        let missing: Vec<&String> = subjects
            .iter()
            .filter(|d| !named.contains(&hex_of(d)))
            .collect();
        if missing.is_empty() {
            return Ok(statement);
        }
        seen.push(format!(
            "a provenance of other images (it does not name {})",
            missing
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if seen.is_empty() {
        bail!("{tag} holds no DSSE envelope");
    }
    bail!("no attestation of it verifies: {}", seen.join("; "))
}
