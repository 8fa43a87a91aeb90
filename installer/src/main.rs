//! `fastmusl`: installs fastmusl sysroots (musl with mimalloc as its
//! allocator) and wires them into cargo, in the manner of rustup.
//!
//! This file parses the command line; `commands` holds one module per
//! command, thin over the library (`lib.rs`).

mod commands;

use std::path::PathBuf;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use commands::{doctor, self_cmd, show, target, update};
use fastmusl::{Output, image};

#[derive(Debug, Parser)]
#[command(
    name = "fastmusl",
    version,
    about = "Fast static musl sysroots for cargo: musl with mimalloc, wired in"
)]
struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more about what is done.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add, remove or list target sysroots.
    Target {
        #[command(subcommand)]
        command: TargetCommand,
    },
    /// Show the installation, what cargo is wired to, and what overrides it.
    Show,
    /// Install newer signed sysroots for the installed targets.
    Update {
        /// Accept a channel manifest older than one already accepted.
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Build and run a tiny program for each installed target and say
    /// whether it is static and which allocator served it.
    Doctor,
    /// Build the cargo project here for every installed platform (or
    /// --platform) and make a scratch container image of it, or of static
    /// binaries built before: an OCI layout, an oci-archive, a registry
    /// push and/or a load into podman; with an SBOM per platform, and
    /// signed with --sign-key. `fastmusl image keygen` makes a signing key,
    /// `fastmusl image verify` checks an image's signatures and provenance.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Image(Box<image::ImageArgs>),
    /// Manage fastmusl itself.
    #[command(name = "self")]
    Myself {
        #[command(subcommand)]
        command: SelfCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
enum SelfCommand {
    /// Replace this binary with the newest signed release.
    Update,
    /// Remove fastmusl, its sysroots and every change it made to cargo's
    /// config files and shell profiles.
    Uninstall {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TargetCommand {
    /// Download, verify and install sysroots, and wire them into cargo.
    Add {
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
        /// Let fastmusl's linker/CC settings replace ones you already set.
        #[arg(long)]
        force: bool,
        /// Wire DIR/.cargo/config.toml instead of $CARGO_HOME/config.toml.
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Accept a channel manifest older than one already accepted.
        #[arg(long)]
        allow_downgrade: bool,
        /// Which flavor of sysroot: `default`, or `secure` (mimalloc's secure
        /// mode; `target list` shows what each is). Adding an installed
        /// target in another flavor switches it.
        #[arg(long, value_name = "FLAVOR", default_value = fastmusl_dist::flavor::DEFAULT)]
        flavor: String,
    },
    /// Remove sysroots; removing the last one restores cargo's config files.
    Remove {
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// List the targets the dist server offers (or only installed ones).
    List {
        #[arg(long)]
        installed: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let out = Output {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    if let Err(e) = run(cli.command, &out) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(command: Command, out: &Output) -> Result<()> {
    match command {
        Command::Target { command } => match command {
            TargetCommand::Add {
                targets,
                force,
                project,
                allow_downgrade,
                flavor,
            } => target::add(
                target::AddOptions {
                    targets,
                    flavor,
                    force,
                    project,
                    allow_downgrade,
                },
                out,
            ),
            TargetCommand::Remove { targets } => target::remove(&targets, out),
            TargetCommand::List { installed } => target::list(installed, out),
        },
        Command::Show => show::show(),
        Command::Update { allow_downgrade } => update::update(allow_downgrade, out),
        Command::Doctor => doctor::doctor(out),
        Command::Image(args) => image::run(*args, out, &|targets| {
            target::add(
                target::AddOptions {
                    targets: targets.to_vec(),
                    flavor: fastmusl_dist::flavor::DEFAULT.to_owned(),
                    force: false,
                    project: None,
                    allow_downgrade: false,
                },
                out,
            )
        }),
        Command::Myself { command } => match command {
            SelfCommand::Update => self_cmd::update(out),
            SelfCommand::Uninstall { yes } => self_cmd::uninstall(yes, out),
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fastmusl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
