//! `fastmusl update`: installs the newest signed sysroots for the installed
//! targets, each in the flavor it has, beside the old ones, points cargo at
//! them, then removes the old ones (never another version a target does
//! not use).

use anyhow::Result;

use fastmusl::{
    Output,
    dist_server::DistServer,
    home::{FastmuslHome, InstallState, Installed},
    install::install_sysroot,
    manifest,
    wiring::rewire_all,
};

pub fn update(allow_downgrade: bool, out: &Output) -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let _lock = home.lock()?;
    let mut state = InstallState::load(&home)?;
    if state.targets.is_empty() {
        out.info("no targets installed; `fastmusl target add <target>` installs one");
        return Ok(());
    }
    let server = DistServer::from_env()?;
    let verified = manifest::fetch_verified(
        &server,
        &home,
        state.accepted_release_timestamp,
        allow_downgrade,
    )?;
    let release = &verified.manifest;
    let version = release.sysroot.version.clone();
    let mut after = state.targets.clone();
    let mut replaced = Vec::new();
    for (triple, installed) in &state.targets {
        let newest = Installed::new(&version, &installed.flavor);
        if *installed == newest {
            out.info(&format!("{triple}: {installed} is up to date"));
            continue;
        }
        let Some(artifact) = release.sysroot.artifact(&installed.flavor, triple) else {
            out.warn(&format!(
                "{triple}: the dist server no longer offers it in the {} flavor; keeping {installed}",
                installed.flavor
            ));
            continue;
        };
        install_sysroot(&server, &home, triple, &newest, artifact, out)?;
        after.insert(triple.clone(), newest);
        replaced.push((triple.clone(), installed.clone()));
    }
    rewire_all(&home, &mut state, &after)?;
    state.targets = after;
    state.accepted_release_timestamp = state
        .accepted_release_timestamp
        .max(release.release_timestamp);
    state.save(&home)?;
    verified.keep(&home);
    for (triple, old) in replaced {
        home.remove_sysroot(&triple, &old)?;
        out.info(&format!(
            "{triple}: updated {old} -> {}",
            state.targets[&triple]
        ));
    }
    Ok(())
}
