//! Fetching the channel manifest and deciding whether to believe it: its
//! minisign signature must verify with a trusted key (the embedded release
//! key, plus `.pub` files the user put in `$FASTMUSL_HOME/keys/`), the signed
//! trusted comment must agree with the manifest's own version and timestamp,
//! and it must not be older than the newest manifest this home has accepted
//! (a replayed old manifest would pin users to old, maybe vulnerable,
//! sysroots) unless the user allows a downgrade.

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    channel::{ChannelManifest, manifest_file_name},
    signature::{TrustedKey, verify},
};

use crate::{dist_server::DistServer, home::FastmuslHome};

/// Manifests and signatures are small; anything larger is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_SIGNATURE_BYTES: u64 = 4096;

pub const CHANNEL: &str = "stable";

/// The embedded release key and any the user added.
pub fn trusted_keys(home: &FastmuslHome) -> Result<Vec<(String, TrustedKey)>> {
    let mut keys = vec![("embedded release key".to_owned(), TrustedKey::release())];
    let dir = home.root.join("keys");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let what = path.display().to_string();
            let key = TrustedKey::parse(&what, &text)?;
            keys.push((what, key));
        }
    }
    Ok(keys)
}

pub struct VerifiedManifest {
    pub manifest: ChannelManifest,
}

pub fn fetch_verified(
    server: &DistServer,
    home: &FastmuslHome,
    accepted_release_timestamp: u64,
    allow_downgrade: bool,
) -> Result<VerifiedManifest> {
    let name = manifest_file_name(CHANNEL);
    let text = server
        .fetch(&name, MAX_MANIFEST_BYTES, false)
        .context("fetching the channel manifest")?;
    let signature = server
        .fetch(&format!("{name}.minisig"), MAX_SIGNATURE_BYTES, false)
        .context("fetching the channel manifest's signature")?;
    let signature = String::from_utf8(signature).context("the manifest signature is not text")?;
    let keys: Vec<TrustedKey> = trusted_keys(home)?.into_iter().map(|(_, k)| k).collect();
    let comment = verify(&name, &text, &signature, &keys)
        .with_context(|| format!("refusing the channel manifest from {}", server.describe()))?;
    let text = String::from_utf8(text).context("the channel manifest is not UTF-8")?;
    let manifest = ChannelManifest::parse(&text)?;

    let signed_timestamp = comment.get("timestamp").and_then(|t| t.parse::<u64>().ok());
    if signed_timestamp != Some(manifest.release_timestamp)
        || comment.get("version") != Some(manifest.sysroot.version.as_str())
    {
        bail!(
            "the channel manifest's signed timestamp or version does not match its contents; refusing it"
        );
    }
    if manifest.release_timestamp < accepted_release_timestamp && !allow_downgrade {
        bail!(
            "refusing the channel manifest from {} (released {}): this fastmusl already accepted a \
             newer one (released at Unix time {accepted_release_timestamp}). An old manifest served \
             again may be a rollback attack. If you really want the older release, pass --allow-downgrade.",
            server.describe(),
            manifest.date,
        );
    }
    Ok(VerifiedManifest { manifest })
}
