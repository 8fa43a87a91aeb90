//! Checking a minisign signature (`<file>.minisig`) of a release file.
//!
//! Besides the Ed25519 check itself, the trusted comment (which the
//! signature covers) must name the file being checked, so a validly signed
//! file cannot be passed off as another one. Its format is space-separated
//! `key:value` fields, e.g.
//! `file:channel-stable.toml version:musl1.2.6-mimalloc3.4.3-r8 timestamp:1773964800`.

use std::collections::BTreeMap;

use minisign_verify::{PublicKey, Signature};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("{what}: the public key is malformed: {detail}")]
    BadPublicKey { what: String, detail: String },
    #[error("{file}: the signature file is malformed or truncated ({detail})")]
    Malformed { file: String, detail: String },
    #[error(
        "{file}: signed by a key that is not trusted (none of {trusted} trusted key(s) matches)"
    )]
    UntrustedKey { file: String, trusted: usize },
    #[error("{file}: the signature does not match: the file or its signature was altered")]
    Mismatch { file: String },
    #[error("{file}: the signature is for {signed_for:?}, not for this file")]
    WrongFile { file: String, signed_for: String },
}

/// The signed metadata of a verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedComment {
    pub fields: BTreeMap<String, String>,
}

impl TrustedComment {
    pub fn parse(text: &str) -> TrustedComment {
        let fields = text
            .split_whitespace()
            .filter_map(|f| f.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        TrustedComment { fields }
    }

    pub fn format(fields: &[(&str, &str)]) -> String {
        fields
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// A trusted minisign public key.
#[derive(Clone)]
pub struct TrustedKey {
    key: PublicKey,
}

impl TrustedKey {
    /// From the text of a `.pub` file (or just its base64 line).
    pub fn parse(what: &str, text: &str) -> Result<TrustedKey, SignatureError> {
        let base64 = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        PublicKey::from_base64(base64)
            .map(|key| TrustedKey { key })
            .map_err(|e| SignatureError::BadPublicKey {
                what: what.to_owned(),
                detail: e.to_string(),
            })
    }

    /// The project's release key.
    pub fn release() -> TrustedKey {
        TrustedKey::parse("the embedded release key", crate::RELEASE_PUBLIC_KEY)
            .expect("the embedded release key is valid")
    }
}

/// Verifies `data` (the contents of the file named `file_name`) against
/// `signature_text` with any of `keys`, and returns the trusted comment.
pub fn verify(
    file_name: &str,
    data: &[u8],
    signature_text: &str,
    keys: &[TrustedKey],
) -> Result<TrustedComment, SignatureError> {
    let signature = Signature::decode(signature_text).map_err(|e| SignatureError::Malformed {
        file: file_name.to_owned(),
        detail: e.to_string(),
    })?;
    let mut mismatch = false;
    for key in keys {
        match key.key.verify(data, &signature, false) {
            Ok(()) => {
                let comment = TrustedComment::parse(signature.trusted_comment());
                return match comment.get("file") {
                    Some(signed) if signed == file_name => Ok(comment),
                    other => Err(SignatureError::WrongFile {
                        file: file_name.to_owned(),
                        signed_for: other.unwrap_or("<no file field>").to_owned(),
                    }),
                };
            }
            Err(minisign_verify::Error::UnexpectedKeyId) => continue,
            Err(_) => mismatch = true,
        }
    }
    if mismatch {
        Err(SignatureError::Mismatch {
            file: file_name.to_owned(),
        })
    } else {
        Err(SignatureError::UntrustedKey {
            file: file_name.to_owned(),
            trusted: keys.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_key_parses() {
        let _ = TrustedKey::release();
        assert!(crate::RELEASE_PUBLIC_KEY.contains("12F643F19A90E908"));
    }

    #[test]
    fn trusted_comments_round_trip() {
        let text = TrustedComment::format(&[("file", "a.toml"), ("timestamp", "5")]);
        assert_eq!(text, "file:a.toml timestamp:5");
        let parsed = TrustedComment::parse(&text);
        assert_eq!(parsed.get("file"), Some("a.toml"));
        assert_eq!(parsed.get("timestamp"), Some("5"));
    }

    #[test]
    fn garbage_is_malformed() {
        let err = verify("f", b"x", "not a signature", &[TrustedKey::release()]).unwrap_err();
        assert!(matches!(err, SignatureError::Malformed { .. }), "{err}");
    }
}
