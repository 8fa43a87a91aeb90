//! Signing release files with a minisign secret key, and making key pairs
//! (`cargo xtask keygen`) for forks and tests.
//!
//! The secret key is read from a path given by `--sign-key` or
//! FASTMUSL_SIGN_KEY and is never printed or copied; only the public half
//! is committed (`dist/fastmusl-release.pub`).

use std::{
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox};

/// Where `cargo xtask dist` finds the secret key when `--sign-key` is not given.
pub const SIGN_KEY_ENV: &str = "FASTMUSL_SIGN_KEY";
/// The password of an encrypted secret key, if it has one.
pub const SIGN_KEY_PASSWORD_ENV: &str = "FASTMUSL_SIGN_KEY_PASSWORD";

pub struct ReleaseSigner {
    secret: SecretKey,
    public: PublicKey,
}

impl ReleaseSigner {
    pub fn from_file(path: &Path) -> Result<ReleaseSigner> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        let text = with_checksum_if_unencrypted(&text)
            .with_context(|| format!("{} is not a minisign secret key", path.display()))?;
        let secret_box = SecretKeyBox::from_string(&text)
            .with_context(|| format!("{} is not a minisign secret key", path.display()))?;
        let secret = match std::env::var(SIGN_KEY_PASSWORD_ENV) {
            Ok(password) => secret_box.into_secret_key(Some(password)),
            Err(_) => secret_box.into_unencrypted_secret_key(),
        }
        .with_context(|| {
            format!(
                "cannot use the signing key {} (if it is password-protected, set {SIGN_KEY_PASSWORD_ENV})",
                path.display()
            )
        })?;
        let public = PublicKey::from_secret_key(&secret).context("deriving the public key")?;
        Ok(ReleaseSigner { secret, public })
    }

    /// minisign's key id, as its tools print it.
    pub fn key_id(&self) -> String {
        key_id(self.public.keynum())
    }

    /// The public key in minisign's `.pub` format.
    pub fn public_key_text(&self) -> Result<String> {
        Ok(self.public.to_box()?.to_string())
    }

    /// A `.minisig` for `data` carrying `trusted_comment`.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String> {
        let untrusted = format!("signature from fastmusl release key {}", self.key_id());
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            data,
            Some(trusted_comment),
            Some(&untrusted),
        )
        .context("signing")?;
        Ok(signature.to_string())
    }
}

/// Byte layout of a minisign secret key (after base64): sig_alg(2)
/// kdf_alg(2) chk_alg(2) kdf_salt(32) opslimit(8) memlimit(8) keynum(8)
/// sk(64) chk(32).
const SECRET_KEY_LEN: usize = 158;
const KDF_ALG: std::ops::Range<usize> = 2..4;
const SIG_ALG: std::ops::Range<usize> = 0..2;
const KEYNUM_AND_SK: std::ops::Range<usize> = 54..126;
const CHECKSUM: std::ops::Range<usize> = 126..158;

/// The minisign CLI (0.11) writes a password-less key (`-W`) with an
/// all-zero checksum, which the `minisign` crate takes for corruption. For
/// such keys (and only those) the checksum is filled in as the crate
/// computes it: BLAKE2b-256 of sig_alg, keynum and sk. An encrypted key, or
/// one whose checksum is set, is passed through untouched.
fn with_checksum_if_unencrypted(text: &str) -> Result<String> {
    use base64::Engine;
    use blake2::{Blake2b, Digest, digest::consts::U32};
    let engine = base64::engine::general_purpose::STANDARD;
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2 {
        bail!("expected a comment line and a key line");
    }
    let mut bytes = engine
        .decode(lines[1].trim())
        .context("the key line is not base64")?;
    if bytes.len() != SECRET_KEY_LEN {
        bail!(
            "the key is {} bytes long, not {SECRET_KEY_LEN}",
            bytes.len()
        );
    }
    let unencrypted = bytes[KDF_ALG] == [0, 0];
    if !unencrypted || bytes[CHECKSUM].iter().any(|&b| b != 0) {
        return Ok(text.to_owned());
    }
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(&bytes[SIG_ALG]);
    hasher.update(&bytes[KEYNUM_AND_SK]);
    let checksum = hasher.finalize();
    bytes[CHECKSUM].copy_from_slice(&checksum);
    let line = engine.encode(&bytes);
    lines[1] = &line;
    Ok(lines.join("\n") + "\n")
}

fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// Writes a new unencrypted key pair as `<dir>/<name>.pub` and
/// `<dir>/<name>.key` (mode 0600); refuses to overwrite either.
pub fn generate_keypair(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let public_path = dir.join(format!("{name}.pub"));
    let secret_path = dir.join(format!("{name}.key"));
    for path in [&public_path, &secret_path] {
        if path.exists() {
            bail!("{} already exists; not overwriting a key", path.display());
        }
    }
    std::fs::create_dir_all(dir)?;
    let KeyPair { pk, sk } =
        KeyPair::generate_unencrypted_keypair().context("generating a key pair")?;
    let id = key_id(pk.keynum());
    let public_text = pk.to_box()?.to_string();
    let secret_text = sk
        .to_box(Some(&format!("fastmusl signing key {id}")))?
        .to_string();
    let mut secret_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .with_context(|| format!("creating {}", secret_path.display()))?;
    secret_file.write_all(secret_text.as_bytes())?;
    std::fs::write(&public_path, public_text)?;
    Ok((public_path, secret_path))
}

#[cfg(test)]
mod tests {
    use fastmusl_dist::signature::{TrustedKey, verify};

    use super::*;

    #[test]
    fn a_generated_pair_signs_what_the_installer_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (public, secret) = generate_keypair(dir.path(), "test").unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let signer = ReleaseSigner::from_file(&secret).unwrap();
        let signature = signer.sign(b"hello", "file:hello.txt").unwrap();
        let key =
            TrustedKey::parse("test key", &std::fs::read_to_string(&public).unwrap()).unwrap();
        let comment = verify("hello.txt", b"hello", &signature, &[key]).unwrap();
        assert_eq!(comment.get("file"), Some("hello.txt"));
        assert!(
            generate_keypair(dir.path(), "test").is_err(),
            "overwrote a key"
        );
    }
}
