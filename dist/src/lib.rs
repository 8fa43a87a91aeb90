//! fastmusl's release formats, shared by the release pipeline (`cargo xtask
//! dist`, which writes them) and the installer (which reads them): the
//! channel manifest and the minisign signatures that vouch for it and for
//! every artifact it lists.
//!
//! Kept apart from both so that the installer carries no build-time code and
//! the pipeline's tests check the very verification the installer runs.

pub mod channel;
pub mod signature;

/// The project's release public key (minisign), trusted by default.
pub const RELEASE_PUBLIC_KEY: &str = include_str!("../fastmusl-release.pub");
