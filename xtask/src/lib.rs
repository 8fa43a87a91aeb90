//! fastmusl's build pipeline (`cargo xtask …`), as a library so that the
//! end-to-end tests in `xtask/tests/` drive the same code as the command line.
//!
//! One module per concern: `pins` and `platforms` read the declarative files
//! in `sysroots/`; `tree_hash` and `fetch` get sources and prove they are the
//! pinned ones; `sysroot` builds a target's sysroot (with `link_runtime`:
//! crtbegin/crtend and libunwind; `libcxx`: LLVM's libc++); `wrappers` are
//! the tools in its `bin/`; `fixture` builds and runs a Rust crate against
//! a sysroot;
//! `dist` packs sysroots into a signed release directory with `signing`;
//! `stock_musl` links C against rustup's own musl, the reference beside
//! fastmusl.

pub mod bench;
mod build_log;
pub mod dist;
pub mod fetch;
pub mod fixture;
mod host_fs;
pub mod libcxx;
pub mod link_runtime;
pub mod pins;
pub mod platforms;
pub mod signing;
pub mod stock_musl;
pub mod sysroot;
pub mod tree_hash;
pub mod wrappers;

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

/// The workspace root; nothing depends on the caller's working directory.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where `cargo xtask sysroot` puts sysroots unless told otherwise.
pub fn default_sysroot_root() -> PathBuf {
    project_root().join("target/sysroots")
}

/// Runs a host tool (a compiler, a linker) to completion; its stderr is
/// the error if it fails.
pub(crate) fn run_tool(mut cmd: Command) -> Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
