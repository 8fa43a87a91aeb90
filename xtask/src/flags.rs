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
    /// Build (or reuse, if its inputs are unchanged) the sysroot of a target
    /// in every flavor; one directory per line, --flavor's last.
    Sysroot {
        #[arg(long)]
        target: TargetTriple,
        /// The flavor whose directory is the last line (`default` or
        /// `secure`, as sysroots/targets.toml names them).
        #[arg(long, default_value = fastmusl_dist::flavor::DEFAULT)]
        flavor: String,
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
    /// Pack sysroots into a release directory: reproducible .tar.zst
    /// archives with sha256 and minisign signatures, and a signed channel
    /// manifest. Builds (or reuses) the sysroots first.
    Dist {
        /// Targets to release (repeat the flag); default: every row of
        /// sysroots/targets.toml.
        #[arg(long = "target")]
        targets: Vec<TargetTriple>,
        /// The release directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// minisign secret key to sign with [env: FASTMUSL_SIGN_KEY].
        #[arg(long, value_name = "PATH")]
        sign_key: Option<PathBuf>,
        /// Where sysroots are built or found (default target/sysroots).
        #[arg(long, value_name = "DIR")]
        sysroots: Option<PathBuf>,
        /// Directory holding the pinned source archives [env: FASTMUSL_MIRROR].
        #[arg(long)]
        mirror: Option<PathBuf>,
        #[arg(long, default_value = "stable")]
        channel: String,
        /// Ship only sysroots, not the fastmusl binaries and install.sh.
        #[arg(long)]
        no_installer: bool,
        /// The dist server install.sh downloads from by default.
        #[arg(long, value_name = "URL", default_value = fastmusl_dist::DEFAULT_DIST_SERVER)]
        dist_server: String,
    },
    /// Make a new minisign key pair (NAME.pub, NAME.key) for signing
    /// releases of a fork, or for tests.
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value = "fastmusl")]
        name: String,
    },
    /// Time the workloads side by side for glibc, stock musl and fastmusl
    /// (with and without the mimalloc crate); writes target/bench/report.{json,md}
    /// and churn-throughput.png.
    Bench {
        /// A small smoke run that checks the harness (minutes, not for conclusions).
        #[arg(long)]
        quick: bool,
        /// Directory holding the pinned source archives [env: FASTMUSL_MIRROR].
        #[arg(long)]
        mirror: Option<PathBuf>,
        /// Measure fastmusl alone at each of mimalloc's secure levels 0–4
        /// (target/bench/secure-levels.md), instead of the six variants.
        #[arg(long, conflicts_with_all = ["memory_study", "free_checks"])]
        secure_levels: bool,
        /// Measure what the checks at every free cost, each flavor against
        /// itself without them (target/bench/free-checks.md), instead of
        /// the six variants.
        #[arg(long, conflicts_with = "memory_study")]
        free_checks: bool,
        /// Measure mimalloc's footprint options, one study-only flavor each
        /// (target/bench/memory-study.{md,png}), instead of the six variants.
        #[arg(long)]
        memory_study: bool,
        /// With --memory-study: measure only these points (their flavor
        /// names, comma-separated) beside today's and the references.
        #[arg(long, value_delimiter = ',', requires = "memory_study")]
        points: Vec<String>,
        /// Measure nothing: rewrite report.md and the plot from this report.json.
        #[arg(long, value_name = "REPORT_JSON", conflicts_with_all = ["quick", "mirror", "secure_levels", "memory_study", "free_checks"])]
        rewrite: Option<PathBuf>,
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
