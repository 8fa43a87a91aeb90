//! The command line of `cargo xtask`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use xtask::platforms::TargetTriple;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "fastmusl's build pipeline")]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build (or reuse, if its inputs are unchanged) the sysroot of a target;
    /// its directory is the last line of stdout.
    Sysroot {
        #[arg(long)]
        target: TargetTriple,
        /// Directory holding the pinned source archives [env: FASTMUSL_MIRROR].
        #[arg(long)]
        mirror: Option<PathBuf>,
        /// Put the sysroot in DIR/<target> instead of target/sysroots/<target>.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Build the sysroot, then build and run a multithreaded Rust demo
    /// program against it, showing that mimalloc serves its allocations.
    Demo {
        #[arg(long, default_value = "x86_64-unknown-linux-musl")]
        target: TargetTriple,
        /// Directory holding the pinned source archives [env: FASTMUSL_MIRROR].
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
    /// Print the tree hash (see sysroots/sources.toml) of a .tar.gz archive,
    /// or of the given subdirectories of a directory.
    TreeHash {
        path: PathBuf,
        /// With a directory: hash only these subdirectories.
        #[arg(long = "subdir")]
        subdirs: Vec<String>,
    },
}
