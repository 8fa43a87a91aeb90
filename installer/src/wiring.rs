//! What cargo must be told for the installed targets: each sysroot's
//! `[wiring]` (from its manifest, or from the signed channel manifest for
//! a target about to be installed) made concrete for this host, and the
//! environment variables that would override it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use fastmusl_dist::{
    channel::SysrootArtifact,
    sysroot::{CargoWiring, SysrootManifest},
};

use crate::{
    cargo_config::{self, WiringMode},
    home::{FastmuslHome, InstallState, Installed, write_atomic},
};

/// The wiring of installed targets, read from their sysroots' manifests.
pub fn installed(
    home: &FastmuslHome,
    targets: &BTreeMap<String, Installed>,
) -> Result<Vec<CargoWiring>> {
    targets
        .iter()
        .map(|(triple, installed)| one_installed(home, triple, installed))
        .collect()
}

/// Like `installed`, leaving out targets whose sysroot cannot be read: for
/// undoing (removing, uninstalling) and reporting, which a damaged sysroot
/// must not block. In include mode the user's files name only fastmusl's
/// own file, so nothing of a left-out target is needed to undo them.
pub fn installed_readable(
    home: &FastmuslHome,
    targets: &BTreeMap<String, Installed>,
) -> Vec<CargoWiring> {
    targets
        .iter()
        .filter_map(|(triple, installed)| one_installed(home, triple, installed).ok())
        .collect()
}

fn one_installed(home: &FastmuslHome, triple: &str, installed: &Installed) -> Result<CargoWiring> {
    let dir = home.sysroot(triple, installed);
    let manifest = SysrootManifest::read(&dir)
        .with_context(|| format!("{triple}: `fastmusl target add {triple}` installs it again"))?;
    Ok(CargoWiring::new(
        triple,
        &dir,
        &manifest.wiring,
        std::env::consts::ARCH,
    ))
}

/// A sysroot `fastmusl target add` is about to install: the signed
/// channel manifest's entry for it.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub triple: String,
    pub installed: Installed,
    pub artifact: SysrootArtifact,
}

/// The wiring after installing the `wanted` sysroots beside the installed
/// `targets` (replacing a target's other version or flavor): what
/// `fastmusl target add` checks the user's config against before it
/// downloads anything.
pub fn planned(
    home: &FastmuslHome,
    targets: &BTreeMap<String, Installed>,
    wanted: &[Wanted],
) -> Result<Vec<CargoWiring>> {
    let mut all = Vec::new();
    let kept: BTreeMap<String, Installed> = targets
        .iter()
        .filter(|(t, _)| !wanted.iter().any(|w| &w.triple == *t))
        .map(|(t, i)| (t.clone(), i.clone()))
        .collect();
    all.extend(installed(home, &kept)?);
    for w in wanted {
        all.push(CargoWiring::new(
            &w.triple,
            &home.sysroot(&w.triple, &w.installed),
            &w.artifact.wiring,
            std::env::consts::ARCH,
        ));
    }
    all.sort_by(|a, b| a.triple.cmp(&b.triple));
    Ok(all)
}

/// Rewrites the owned config and every wired config file for `targets`
/// (include mode leaves the user's files as they are).
pub fn rewire_all(
    home: &FastmuslHome,
    state: &mut InstallState,
    targets: &BTreeMap<String, Installed>,
) -> Result<()> {
    let all = installed(home, targets)?;
    write_atomic(
        &home.owned_cargo_config(),
        cargo_config::owned_config_text(&all).as_bytes(),
    )?;
    let mode = WiringMode::for_cargo_version(cargo_config::cargo_version());
    let mut wirings = Vec::new();
    for w in &state.wirings {
        wirings.push(cargo_config::rewire(
            &w.config,
            Some(w),
            mode,
            &home.owned_cargo_config(),
            &all,
            &w.forced,
        )?);
    }
    state.wirings = wirings;
    Ok(())
}

/// Environment variables that make cargo ignore fastmusl's settings.
pub fn environment_overrides(targets: &[CargoWiring]) -> Vec<String> {
    let mut warnings = Vec::new();
    for t in targets {
        let env_vars = t.env_vars().into_iter().map(|(name, _)| name);
        for var in [
            t.linker_var(),
            "TARGET_CC".to_owned(),
            "TARGET_CXX".to_owned(),
        ]
        .into_iter()
        .chain(env_vars)
        {
            if let Ok(v) = std::env::var(&var) {
                warnings.push(format!(
                    "{var}={v} is set in the environment and overrides fastmusl's setting for {}",
                    t.triple
                ));
            }
        }
    }
    // Any of these replaces every config rustflags, fastmusl's too.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        if let Ok(v) = std::env::var(var) {
            if v.contains("linker") || v.contains("link-self-contained") {
                warnings.push(format!(
                    "{var} sets linker options ({v}); they may override fastmusl's linker"
                ));
            }
            let lost: Vec<&str> = targets
                .iter()
                .filter(|t| !t.rustflags.iter().all(|f| v.contains(f.as_str())))
                .map(|t| t.triple.as_str())
                .collect();
            if lost.is_empty() {
                continue;
            }
            warnings.push(if var == "CARGO_BUILD_RUSTFLAGS" {
                format!(
                    "{var} is set, but for {} cargo uses the target rustflags fastmusl \
                     configures instead; put your flags in RUSTFLAGS (with -C \
                     target-feature=+crt-static) if they must apply there",
                    lost.join(", ")
                )
            } else {
                format!(
                    "{var} is set, so cargo ignores the rustflags fastmusl configures for {} \
                     (static linking: -C target-feature=+crt-static); add them to {var}",
                    lost.join(", ")
                )
            });
        }
    }
    warnings
}

/// Emulators the wiring names that are not on PATH: binaries of those
/// targets build, but `cargo run`/`cargo test` cannot start them.
pub fn missing_runners(targets: &[CargoWiring]) -> Vec<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    targets
        .iter()
        .filter_map(|t| {
            let runner = t.runner.as_ref()?;
            let found = std::env::split_paths(&path).any(|dir| dir.join(runner).is_file());
            (!found).then(|| {
                format!(
                    "{}: its binaries run under {runner}, which is not on PATH \
                     (Debian/Ubuntu: apt-get install qemu-user-static); builds work without it",
                    t.triple
                )
            })
        })
        .collect()
}
