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
    /// Without the network, the last channel manifest verified here.
    List {
        #[arg(long)]
        installed: bool,
        /// Do not ask the dist server: list the last channel manifest
        /// verified here, saying how old it is.
        #[arg(long, conflicts_with = "installed")]
        offline: bool,
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
            TargetCommand::List { installed, offline } => target::list(installed, offline, out),
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

#[cfg(test)]
mod tests {
    //! Every `fastmusl …` command the README, the guide and the CI recipes
    //! show parses with this CLI: a renamed flag or subcommand fails here
    //! before a reader meets it.

    use std::path::{Path, PathBuf};

    use clap::{Parser, error::ErrorKind};

    use super::Cli;

    fn project_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// A recipe's `${NAME:+ALT}` as the shell expands it where NAME is set:
    /// ALT (`$$` is Cloud Build's escape of `$`).
    fn with_alternatives_taken(line: &str) -> String {
        let mut out = line.replace("$$", "$");
        while let Some(start) = out.find("${") {
            let Some(end) = out[start..].find('}').map(|e| start + e) else {
                break;
            };
            let inner = &out[start + 2..end];
            let replacement = match inner.split_once(":+") {
                Some((_, alternative)) => alternative.to_owned(),
                None => format!("VALUE_OF_{inner}"),
            };
            out.replace_range(start..=end, &replacement);
        }
        out
    }

    /// The words of a shell command line, up to a pipe, `&&`, `;`, a
    /// redirection or a comment; quotes keep spaces.
    fn words(line: &str) -> Vec<String> {
        let line = with_alternatives_taken(line);
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => quote = Some(c),
                (None, '|' | ';' | '>' | '&' | '#') if word.is_empty() => break,
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                (None, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }

    /// `fastmusl` commands in a document: (line, command, whether it stands
    /// in a code block or a shell recipe as something to run).
    fn commands_in(text: &str, all_lines_are_code: bool) -> Vec<(usize, String, bool)> {
        let mut found = Vec::new();
        let mut in_code = all_lines_are_code;
        let mut pending: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                let trimmed = line
                    .trim()
                    .trim_start_matches("$ ")
                    .trim_start_matches("- ");
                let continued = match pending.take() {
                    Some((start, head)) => Some((start, format!("{head} {trimmed}"))),
                    None => trimmed
                        .find("fastmusl ")
                        .filter(|at| {
                            // At the start, or after `run:`, `&&`, `|`.
                            let before = trimmed[..*at].trim_end();
                            before.is_empty()
                                || ["run:", "&&", "|", ";", "then", "do"]
                                    .iter()
                                    .any(|s| before.ends_with(s))
                        })
                        .map(|at| (n + 1, trimmed[at..].to_owned())),
                };
                if let Some((start, command)) = continued {
                    match command.strip_suffix('\\') {
                        Some(head) => pending = Some((start, head.trim_end().to_owned())),
                        None => found.push((start, command, true)),
                    }
                }
            } else {
                for (i, span) in line.split('`').enumerate() {
                    if i % 2 == 1 && span.starts_with("fastmusl ") {
                        found.push((n + 1, span.to_owned(), false));
                    }
                }
            }
        }
        found
    }

    fn documents() -> Vec<(PathBuf, bool)> {
        let root = project_root();
        let mut docs = vec![
            (root.join("README.md"), false),
            (root.join("ARCHITECTURE.md"), false),
        ];
        for dir in ["docs", "ci/examples", "ci/setup-fastmusl"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let markdown = path.extension().is_some_and(|e| e == "md");
                    docs.push((path, !markdown));
                }
            }
        }
        docs
    }

    #[test]
    fn every_fastmusl_command_shown_parses() {
        let mut checked = 0;
        let mut failures = Vec::new();
        for (path, all_code) in documents() {
            let text = std::fs::read_to_string(&path).unwrap();
            for (line, command, to_run) in commands_in(&text, all_code) {
                let argv = words(&command);
                checked += 1;
                match Cli::try_parse_from(&argv) {
                    Ok(_) => {}
                    // Prose names a command without its arguments
                    // (`fastmusl target add`); a code block may not.
                    Err(e)
                        if !to_run
                            && matches!(
                                e.kind(),
                                ErrorKind::MissingRequiredArgument
                                    | ErrorKind::MissingSubcommand
                                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                            ) => {}
                    // Prose names an option (`fastmusl image --push`).
                    Err(e)
                        if !to_run
                            && e.kind() == ErrorKind::InvalidValue
                            && argv.last().is_some_and(|w| w.starts_with("--")) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp) => {}
                    Err(e) => failures.push(format!(
                        "{}:{line}: `{command}`: {}",
                        path.strip_prefix(project_root()).unwrap().display(),
                        e.render().to_string().lines().next().unwrap_or_default()
                    )),
                }
            }
        }
        assert!(checked > 40, "only {checked} commands found");
        assert!(
            failures.is_empty(),
            "commands that do not parse:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn commands_are_found_in_code_blocks_recipes_and_prose() {
        let text = "Run `fastmusl target add T --flavor secure` or `cargo x`.\n\
                    ```sh\n$ fastmusl image --tag a:b \\\n    --oci-dir d   # a comment\n\
                    cargo build && fastmusl doctor\n```\n";
        let found = commands_in(text, false);
        let commands: Vec<&str> = found.iter().map(|(_, c, _)| c.as_str()).collect();
        assert_eq!(
            commands,
            [
                "fastmusl target add T --flavor secure",
                "fastmusl image --tag a:b --oci-dir d   # a comment",
                "fastmusl doctor"
            ]
        );
        assert_eq!(
            words("fastmusl image --oci-dir d   # a comment"),
            ["fastmusl", "image", "--oci-dir", "d"]
        );
        assert!(Cli::try_parse_from(words("fastmusl target add --no-such-flag x")).is_err());
        assert_eq!(
            words("fastmusl image $${R:+--revision \"$$R\"} --push x"),
            ["fastmusl", "image", "--revision", "$R", "--push", "x"]
        );
    }
}
