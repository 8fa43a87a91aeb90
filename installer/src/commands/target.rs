//! `fastmusl target add | remove | list`: manifest → download → verify →
//! install → wire, in that order, each step before the next can change
//! anything the user relies on. Adding a target that is installed in
//! another flavor (or from another release) switches it: the new sysroot
//! is installed beside the old, cargo is pointed at it, then the old one is
//! removed.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Result, bail};
use fastmusl::{
    Output,
    cargo_config::{self, WiringMode},
    dist_server::DistServer,
    home::{FastmuslHome, InstallState, Installed, write_atomic},
    install::install_sysroot,
    manifest, suggest,
    wiring::{self, Wanted},
};
use fastmusl_dist::{channel::SysrootRelease, flavor};

pub struct AddOptions {
    pub targets: Vec<String>,
    /// Which flavor of sysroot (`default` unless told).
    pub flavor: String,
    pub force: bool,
    pub project: Option<PathBuf>,
    pub allow_downgrade: bool,
}

/// The cargo config file to wire: the project's or the global one.
fn config_path(project: Option<&Path>) -> Result<PathBuf> {
    match project {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("--project {}: no such directory", dir.display());
            }
            let dir = std::fs::canonicalize(dir)?;
            Ok(cargo_config::config_in(&dir.join(".cargo")))
        }
        None => cargo_config::global_config_path(),
    }
}

pub fn add(options: AddOptions, out: &Output) -> Result<()> {
    let started = Instant::now();
    let home = FastmuslHome::from_env()?;
    let _lock = home.lock()?;
    let mut state = InstallState::load(&home)?;
    let server = DistServer::from_env()?;
    let verified = manifest::fetch_verified(
        &server,
        &home,
        state.accepted_release_timestamp,
        options.allow_downgrade,
    )?;
    let release = &verified.manifest;
    let version = release.sysroot.version.clone();
    out.detail(&format!(
        "verified channel manifest from {} (released {}, sysroot {version})",
        server.describe(),
        release.date
    ));

    let wanted = wanted_sysroots(&release.sysroot, &options, &server.describe())?;

    // Decide about the user's config before downloading anything.
    let config = config_path(options.project.as_deref())?;
    let mode = WiringMode::for_cargo_version(cargo_config::cargo_version());
    let mut after = state.targets.clone();
    for w in &wanted {
        after.insert(w.triple.clone(), w.installed.clone());
    }
    let all = wiring::planned(&home, &state.targets, &wanted)?;
    let previous = state.wirings.iter().find(|w| w.config == config).cloned();
    let mut forced = previous
        .as_ref()
        .map(|w| w.forced.clone())
        .unwrap_or_default();
    if let Some(text) = cargo_config::read_optional(&config)? {
        let text = match &previous {
            Some(w) if w.written == text => w.original.clone().unwrap_or_default(),
            _ => text,
        };
        let found: Vec<_> = cargo_config::conflicts(&config, &text, &all)?
            .into_iter()
            .filter(|c| !forced.contains(&c.key))
            .collect();
        if let Some(note) = cargo_config::shadowed_build_rustflags(&config, &text, &all) {
            out.warn(&note);
        }
        if !found.is_empty() {
            if !options.force {
                let list: Vec<String> = found.iter().map(|c| format!("  {c}")).collect();
                bail!(
                    "your cargo configuration already sets what fastmusl would set:\n{}\n\
                     Nothing was changed. Remove those keys, or pass --force to let fastmusl's \
                     settings win (yours come back when fastmusl's are removed).",
                    list.join("\n")
                );
            }
            forced.extend(found.into_iter().map(|c| c.key));
        }
    }

    for w in &wanted {
        let triple = &w.triple;
        if state.targets.get(triple) == Some(&w.installed)
            && fastmusl_dist::sysroot::SysrootManifest::read(&home.sysroot(triple, &w.installed))
                .is_ok_and(|m| m.wiring == w.artifact.wiring)
        {
            out.info(&format!(
                "{triple}: sysroot {} is already installed",
                w.installed
            ));
            continue;
        }
        install_sysroot(&server, &home, triple, &w.installed, &w.artifact, out)?;
    }

    // From here on, the installed sysroots' own manifests are the facts.
    let all = wiring::installed(&home, &after)?;
    write_atomic(
        &home.owned_cargo_config(),
        cargo_config::owned_config_text(&all).as_bytes(),
    )?;
    let wired = cargo_config::rewire(
        &config,
        previous.as_ref(),
        mode,
        &home.owned_cargo_config(),
        &all,
        &forced,
    )?;
    state.wirings.retain(|w| w.config != config);
    state.wirings.push(wired);
    let replaced: Vec<(String, Installed)> = wanted
        .iter()
        .filter_map(|w| {
            let old = state.targets.get(&w.triple)?;
            (old != &w.installed).then(|| (w.triple.clone(), old.clone()))
        })
        .collect();
    state.targets = after;
    state.accepted_release_timestamp = state
        .accepted_release_timestamp
        .max(release.release_timestamp);
    state.save(&home)?;
    verified.keep(&home);
    // Files go last: until here, everything still pointed at them.
    for (triple, old) in replaced {
        home.remove_sysroot(&triple, &old)?;
        out.info(&format!(
            "{triple}: switched from {old} to {}",
            state.targets[&triple]
        ));
    }
    let added: Vec<_> = all
        .iter()
        .filter(|w| options.targets.contains(&w.triple))
        .cloned()
        .collect();
    for warning in wiring::environment_overrides(&added)
        .into_iter()
        .chain(wiring::missing_runners(&added))
    {
        out.warn(&warning);
    }
    out.info(&format!(
        "cargo is wired through {} ({}); done in {:.2} s",
        config.display(),
        match mode {
            WiringMode::Include => "include",
            WiringMode::InPlace => "keys edited in place",
        },
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

pub fn remove(targets: &[String], out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let _lock = home.lock()?;
    let mut state = InstallState::load(&home)?;
    for triple in targets {
        if !state.targets.contains_key(triple) {
            let installed: Vec<&str> = state.targets.keys().map(String::as_str).collect();
            bail!(
                "{triple} is not installed (installed: {}){}",
                if installed.is_empty() {
                    "none".to_owned()
                } else {
                    installed.join(", ")
                },
                suggest::did_you_mean(triple, installed.iter().copied())
            );
        }
    }
    let mut after = state.targets.clone();
    for triple in targets {
        after.remove(triple);
    }
    let remaining = wiring::installed(&home, &after)?;
    // What to take out of the files; a damaged sysroot can still be removed.
    let before = wiring::installed_readable(&home, &state.targets);
    let owned = home.owned_cargo_config();
    let mode = WiringMode::for_cargo_version(cargo_config::cargo_version());
    let mut wirings = Vec::new();
    for wiring in &state.wirings {
        if remaining.is_empty() {
            if let Some(note) = cargo_config::unwire(wiring, &owned, &before)? {
                out.warn(&note);
            }
        } else {
            wirings.push(cargo_config::rewire(
                &wiring.config,
                Some(wiring),
                mode,
                &owned,
                &remaining,
                &wiring.forced,
            )?);
        }
    }
    if remaining.is_empty() {
        let _ = std::fs::remove_file(&owned);
    } else {
        write_atomic(
            &owned,
            cargo_config::owned_config_text(&remaining).as_bytes(),
        )?;
    }
    state.wirings = wirings;
    let removed: Vec<(String, Installed)> = targets
        .iter()
        .map(|t| (t.clone(), state.targets[t].clone()))
        .collect();
    state.targets = after;
    state.save(&home)?;
    // Files go last: until here, everything still pointed at them.
    for (triple, installed) in removed {
        home.remove_sysroot(&triple, &installed)?;
        out.info(&format!("{triple}: removed sysroot {installed}"));
    }
    Ok(())
}

/// The channel's entries for the targets to add in the flavor asked for;
/// an unknown flavor or target is named with what there is instead.
fn wanted_sysroots(
    release: &SysrootRelease,
    options: &AddOptions,
    server: &str,
) -> Result<Vec<Wanted>> {
    let flavors = release.flavors();
    if !flavors.contains(&options.flavor.as_str()) {
        bail!(
            "{server} offers no `{}` flavor; flavors: {}{}",
            options.flavor,
            flavors.join(", "),
            suggest::did_you_mean(&options.flavor, flavors.iter().copied())
        );
    }
    options
        .targets
        .iter()
        .map(|triple| {
            let Some(artifact) = release.artifact(&options.flavor, triple) else {
                let available: Vec<&str> = release
                    .target
                    .keys()
                    .filter(|t| release.artifact(&options.flavor, t).is_some())
                    .map(String::as_str)
                    .collect();
                bail!(
                    "{server} has no sysroot for `{}`; available targets: {}{}",
                    flavor::describe(triple, &options.flavor),
                    available.join(", "),
                    suggest::did_you_mean(triple, available.iter().copied())
                );
            };
            Ok(Wanted {
                triple: triple.clone(),
                installed: Installed::new(&release.version, &options.flavor),
                artifact: artifact.clone(),
            })
        })
        .collect()
}

/// The targets the channel offers, from the server; where it cannot be
/// reached (or with `offline`), from the last manifest this home verified,
/// saying how old that is.
pub fn list(installed_only: bool, offline: bool, out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let state = InstallState::load(&home)?;
    if installed_only {
        for (triple, installed) in &state.targets {
            println!("{triple} ({installed})");
        }
        return Ok(());
    }
    let server = DistServer::from_env()?;
    let fetched = if offline {
        None
    } else {
        match manifest::fetch(&server) {
            Ok(fetched) => Some(fetched),
            Err(e) => {
                out.warn(&format!(
                    "cannot reach {}: {e:#}; listing the last channel manifest verified here",
                    server.describe()
                ));
                None
            }
        }
    };
    let release = match fetched {
        Some(fetched) => {
            let verified = manifest::verify_fetched(
                fetched,
                &server,
                &home,
                state.accepted_release_timestamp,
                false,
            )?;
            out.info(&format!(
                "sysroot {} from {}",
                verified.manifest.sysroot.version,
                server.describe()
            ));
            verified.keep(&home);
            verified.manifest.sysroot
        }
        None => {
            let Some(last) = manifest::LastVerified::load(&home)? else {
                bail!(
                    "no channel manifest has been verified in {} yet, so there is nothing to list \
                     offline: run `fastmusl target list` once with {} reachable",
                    home.root.display(),
                    server.describe()
                );
            };
            out.info(&format!(
                "sysroot {} from {}, as verified {} (released {}); offline",
                last.manifest.sysroot.version,
                last.server,
                last.age(),
                last.manifest.date
            ));
            last.manifest.sysroot
        }
    };
    for triple in release.target.keys() {
        let flavors: Vec<&str> = release
            .flavors()
            .into_iter()
            .filter(|f| release.artifact(f, triple).is_some())
            .collect();
        let flavors = flavors.join(", ");
        match state.targets.get(triple) {
            Some(installed) => println!("{triple}  flavors: {flavors}  (installed: {installed})"),
            None => println!("{triple}  flavors: {flavors}"),
        }
    }
    out.info("flavors:");
    for name in release.flavors() {
        // Releases before the default flavor's summary say nothing of it.
        let summary = release
            .flavor_summary(name)
            .unwrap_or("mimalloc as musl's allocator");
        out.info(&format!("  {name}: {summary}"));
    }
    Ok(())
}
