//! `fastmusl self update` and `fastmusl self uninstall`.
//!
//! Uninstalling removes everything fastmusl added, and only that: its cargo
//! wiring (the user's config files come back byte for byte when untouched
//! since), the line install.sh added to shell profiles, and in its home
//! the entries it makes (`FastmuslHome::OWNED`), then the home itself if
//! that leaves it empty. A home that holds anything else (someone set
//! `FASTMUSL_HOME=$HOME`, say) is refused before anything changes, as
//! rustup refuses to delete what it did not install.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use fastmusl::{
    Output, cargo_config,
    dist_server::DistServer,
    home::{FastmuslHome, InstallState, write_atomic},
    install::check_artifact,
    manifest, wiring,
};

/// The line install.sh appends to shell profiles; uninstall removes exactly it.
pub const PROFILE_MARKER: &str = "# added by fastmusl install.sh";

/// This binary's host triple in release manifests (static musl builds).
pub fn host_triple() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

pub fn update(out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let _lock = home.lock()?;
    let mut state = InstallState::load(&home)?;
    let server = DistServer::from_env()?;
    let release =
        manifest::fetch_verified(&server, &home, state.accepted_release_timestamp, false)?.manifest;
    let installer = release
        .installer
        .as_ref()
        .context("this release has no fastmusl binaries")?;
    let host = host_triple();
    let artifact = installer
        .host
        .get(&host)
        .with_context(|| format!("this release has no fastmusl binary for {host}"))?;
    let current = env!("CARGO_PKG_VERSION");
    if installer.version == current {
        out.info(&format!("fastmusl {current} is up to date"));
        return Ok(());
    }
    let bytes = server.fetch(&artifact.url, artifact.size, false)?;
    check_artifact(&server.location(&artifact.url), &bytes, artifact)?;
    let exe = std::env::current_exe().context("locating this fastmusl binary")?;
    let staged = exe.with_file_name(".fastmusl.update");
    std::fs::write(&staged, &bytes).with_context(|| format!("writing {}", staged.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&staged, &exe).with_context(|| format!("replacing {}", exe.display()))?;
    state.accepted_release_timestamp = state
        .accepted_release_timestamp
        .max(release.release_timestamp);
    state.save(&home)?;
    out.info(&format!(
        "fastmusl updated: {current} -> {}",
        installer.version
    ));
    Ok(())
}

pub fn uninstall(yes: bool, out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let foreign = home.foreign_entries()?;
    if !foreign.is_empty() {
        let shown: Vec<String> = foreign
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        bail!(
            "{} holds files fastmusl did not put there:\n  {}{}\n\
             Nothing was removed. If FASTMUSL_HOME points at a shared directory, set it to \
             fastmusl's own (where `fastmusl target add` installed), or remove fastmusl's \
             entries there by hand: {}.",
            home.root.display(),
            shown.join("\n  "),
            if foreign.len() > 10 { "\n  …" } else { "" },
            FastmuslHome::OWNED.join(", ")
        );
    }
    if !yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!(
            "This removes fastmusl, its sysroots and its cargo settings from {}. Continue? [y/N] ",
            home.root.display()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not uninstalled");
        }
    }
    {
        let _lock = home.lock()?;
        let state = InstallState::load(&home)?;
        let targets = wiring::installed_readable(&home, &state.targets);
        for wiring in &state.wirings {
            match cargo_config::unwire(wiring, &home.owned_cargo_config(), &targets)? {
                Some(note) => out.warn(&note),
                None => out.info(&format!("restored {}", wiring.config.display())),
            }
        }
    }
    for profile in profile_files() {
        remove_marked_lines(&profile)?;
    }
    home.remove_owned_entries()?;
    out.info(&format!("removed fastmusl from {}", home.root.display()));
    Ok(())
}

/// The profiles install.sh may have written (its `profiles()`, whichever
/// exist now).
fn profile_files() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return Vec::new();
    };
    let home = PathBuf::from(home);
    let zdotdir = std::env::var_os("ZDOTDIR")
        .filter(|z| !z.is_empty())
        .map_or_else(|| home.clone(), PathBuf::from);
    [".profile", ".bash_profile", ".bash_login", ".bashrc"]
        .iter()
        .map(|f| home.join(f))
        .chain([zdotdir.join(".zshenv")])
        .collect()
}

/// Removes the line install.sh appended (and the newline before it that it
/// added to a file not ending in one) from a profile; a profile left empty
/// was made by install.sh and goes too.
fn remove_marked_lines(path: &std::path::Path) -> Result<()> {
    let Some(text) = cargo_config::read_optional(path)? else {
        return Ok(());
    };
    if !text.contains(PROFILE_MARKER) {
        return Ok(());
    }
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.contains(PROFILE_MARKER))
        .collect();
    if kept.is_empty() {
        return std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()));
    }
    write_atomic(path, kept.as_bytes())
}
