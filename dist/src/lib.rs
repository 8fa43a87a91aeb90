//! fastmusl's release formats, shared by the release pipeline (`cargo xtask
//! sysroot`/`dist`, which write them) and the installer (which reads them):
//! the sysroot manifest and the cargo wiring it implies, the channel
//! manifest and the minisign signatures that vouch for it and for every
//! artifact it lists; and the one ELF reader both use to tell what a binary
//! is (machine, class, static or not).
//!
//! Kept apart from both so that the installer carries no build-time code and
//! the pipeline's tests check the very verification the installer runs.

pub mod channel;
pub mod elf;
pub mod flavor;
pub mod reproducible;
pub mod rust_std;
pub mod signature;
pub mod sysroot;

/// The project's release public key (minisign), trusted by default.
pub const RELEASE_PUBLIC_KEY: &str = include_str!("../fastmusl-release.pub");

/// Where releases are published: the base URL of a `cargo xtask dist`
/// directory, as the installer and install.sh use it by default.
pub const DEFAULT_DIST_SERVER: &str =
    "https://github.com/fastmusl/fastmusl/releases/latest/download";
