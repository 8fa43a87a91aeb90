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

use crate::{
    dist_server::DistServer,
    home::{FastmuslHome, write_atomic},
};

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
    /// As fetched, for `keep`.
    fetched: FetchedManifest,
    server: String,
}

impl VerifiedManifest {
    /// Keeps the manifest in the home for `target list` without the
    /// network. Called once the command that verified it has done its
    /// work: a command that refuses (a bad archive, say) leaves the home
    /// as it was. Only a cache: a home that cannot be written to loses
    /// nothing but offline listing.
    pub fn keep(&self, home: &FastmuslHome) {
        let _ = LastVerified::keep(home, &self.fetched, &self.server);
    }
}

/// The channel manifest and its signature as a server sent them.
pub struct FetchedManifest {
    text: Vec<u8>,
    signature: Vec<u8>,
}

/// Fetches the channel manifest and its signature: the network part, whose
/// failure `target list` can answer from the last verified manifest.
pub fn fetch(server: &DistServer) -> Result<FetchedManifest> {
    let name = manifest_file_name(CHANNEL);
    let text = server
        .fetch(&name, MAX_MANIFEST_BYTES, false)
        .context("fetching the channel manifest")?;
    let signature = server
        .fetch(&format!("{name}.minisig"), MAX_SIGNATURE_BYTES, false)
        .context("fetching the channel manifest's signature")?;
    Ok(FetchedManifest { text, signature })
}

pub fn fetch_verified(
    server: &DistServer,
    home: &FastmuslHome,
    accepted_release_timestamp: u64,
    allow_downgrade: bool,
) -> Result<VerifiedManifest> {
    let fetched = fetch(server)?;
    verify_fetched(
        fetched,
        server,
        home,
        accepted_release_timestamp,
        allow_downgrade,
    )
}

/// Decides whether to believe a fetched manifest (see the module's doc)
/// and, if so, keeps it in the home for `target list --offline`.
pub fn verify_fetched(
    fetched: FetchedManifest,
    server: &DistServer,
    home: &FastmuslHome,
    accepted_release_timestamp: u64,
    allow_downgrade: bool,
) -> Result<VerifiedManifest> {
    let manifest = verify_signed(home, &fetched)
        .with_context(|| format!("refusing the channel manifest from {}", server.describe()))?;
    if manifest.release_timestamp < accepted_release_timestamp && !allow_downgrade {
        bail!(
            "refusing the channel manifest from {} (released {}): this fastmusl already accepted a \
             newer one (released at Unix time {accepted_release_timestamp}). An old manifest served \
             again may be a rollback attack. If you really want the older release, pass --allow-downgrade.",
            server.describe(),
            manifest.date,
        );
    }
    Ok(VerifiedManifest {
        manifest,
        fetched,
        server: server.describe(),
    })
}

/// The signature with a trusted key, then the signed comment against the
/// manifest's own version and timestamp.
fn verify_signed(home: &FastmuslHome, fetched: &FetchedManifest) -> Result<ChannelManifest> {
    let name = manifest_file_name(CHANNEL);
    let signature =
        std::str::from_utf8(&fetched.signature).context("the manifest signature is not text")?;
    let keys: Vec<TrustedKey> = trusted_keys(home)?.into_iter().map(|(_, k)| k).collect();
    let comment = verify(&name, &fetched.text, signature, &keys)?;
    let text = std::str::from_utf8(&fetched.text).context("the channel manifest is not UTF-8")?;
    let manifest = ChannelManifest::parse(text)?;
    let signed_timestamp = comment.get("timestamp").and_then(|t| t.parse::<u64>().ok());
    if signed_timestamp != Some(manifest.release_timestamp)
        || comment.get("version") != Some(manifest.sysroot.version.as_str())
    {
        bail!(
            "the channel manifest's signed timestamp or version does not match its contents; refusing it"
        );
    }
    Ok(manifest)
}

/// The last channel manifest this home verified, kept (with its signature,
/// where it came from and when) under `$FASTMUSL_HOME/channel/`, so that
/// `fastmusl target list` can answer without the network.
pub struct LastVerified {
    pub manifest: ChannelManifest,
    /// `DistServer::describe()` of the server it came from.
    pub server: String,
    /// Seconds since the Unix epoch when it was verified.
    pub verified_at: u64,
}

impl LastVerified {
    const FROM_FILE: &str = "verified-from.toml";

    fn keep(home: &FastmuslHome, fetched: &FetchedManifest, server: &str) -> Result<()> {
        let dir = home.channel_cache();
        let name = manifest_file_name(CHANNEL);
        write_atomic(&dir.join(&name), &fetched.text)?;
        write_atomic(&dir.join(format!("{name}.minisig")), &fetched.signature)?;
        let mut from = toml_edit::DocumentMut::new();
        from["server"] = toml_edit::value(server);
        from["verified_at"] = toml_edit::value(unix_now() as i64);
        write_atomic(&dir.join(Self::FROM_FILE), from.to_string().as_bytes())
    }

    /// The kept manifest, verified again with today's trusted keys; `None`
    /// if this home has never verified one.
    pub fn load(home: &FastmuslHome) -> Result<Option<LastVerified>> {
        let dir = home.channel_cache();
        let name = manifest_file_name(CHANNEL);
        let read = |file: &str| std::fs::read(dir.join(file));
        let (text, signature, from) = match (
            read(&name),
            read(&format!("{name}.minisig")),
            read(Self::FROM_FILE),
        ) {
            (Ok(text), Ok(signature), Ok(from)) => (text, signature, from),
            _ => return Ok(None),
        };
        let manifest = verify_signed(home, &FetchedManifest { text, signature })
            .with_context(|| format!("refusing the channel manifest kept in {}", dir.display()))?;
        let from: toml_edit::DocumentMut = String::from_utf8_lossy(&from)
            .parse()
            .with_context(|| format!("reading {}", dir.join(Self::FROM_FILE).display()))?;
        Ok(Some(LastVerified {
            manifest,
            server: from["server"].as_str().unwrap_or("?").to_owned(),
            verified_at: from["verified_at"].as_integer().unwrap_or(0).max(0) as u64,
        }))
    }

    /// How long ago it was verified, for people: "3 days ago".
    pub fn age(&self) -> String {
        let seconds = unix_now().saturating_sub(self.verified_at);
        let (amount, unit) = match seconds {
            s if s < 120 => (s, "second"),
            s if s < 2 * 3600 => (s / 60, "minute"),
            s if s < 2 * 86400 => (s / 3600, "hour"),
            s => (s / 86400, "day"),
        };
        let plural = if amount == 1 { "" } else { "s" };
        format!("{amount} {unit}{plural} ago")
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
