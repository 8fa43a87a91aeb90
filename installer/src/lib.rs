//! The library under the `fastmusl` commands, kept apart from them as in
//! rustup's dist code: `dist_server` fetches, `manifest` verifies the
//! signed channel manifest, `install` checks and unpacks a sysroot archive
//! (with `unpack`), `wiring` turns installed sysroots' manifests into what
//! cargo must be told and `cargo_config` writes it, `home` holds paths and
//! state. `image` builds scratch container images of static binaries.
//!
//! Facts about a target (tool names, rustflags, emulator) are read from
//! the sysroot's manifest (`fastmusl_dist::sysroot`), never derived from
//! the triple.

pub mod cargo_config;
pub mod dist_server;
pub mod home;
pub mod image;
pub mod install;
pub mod manifest;
pub mod resolv_conf;
pub mod suggest;
pub mod tls;
pub mod unpack;
pub mod wiring;

/// How much to say.
pub struct Output {
    pub quiet: bool,
    pub verbose: bool,
}

impl Output {
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("info: {message}");
        }
    }

    /// Only with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose && !self.quiet {
            eprintln!("verbose: {message}");
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}
