//! `fastmusl update`: installs the newest signed sysroots for the installed
//! targets beside the old ones, points cargo at them, then removes the old
//! ones (never another version a target does not use).

use anyhow::Result;

use fastmusl::{
    Output,
    dist_server::DistServer,
    home::{FastmuslHome, InstallState},
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
    let release = verified.manifest;
    let version = release.sysroot.version.clone();
    let mut after = state.targets.clone();
    let mut replaced = Vec::new();
    for (triple, installed) in &state.targets {
        if *installed == version {
            out.info(&format!("{triple}: {version} is up to date"));
            continue;
        }
        let Some(artifact) = release.sysroot.target.get(triple) else {
            out.warn(&format!(
                "{triple}: the dist server no longer offers it; keeping {installed}"
            ));
            continue;
        };
        install_sysroot(&server, &home, &version, triple, artifact, out)?;
        after.insert(triple.clone(), version.clone());
        replaced.push((triple.clone(), installed.clone()));
    }
    rewire_all(&home, &mut state, &after)?;
    state.targets = after;
    state.accepted_release_timestamp = state
        .accepted_release_timestamp
        .max(release.release_timestamp);
    state.save(&home)?;
    for (triple, old) in replaced {
        let dir = home.sysroot(&old, &triple);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let _ = std::fs::remove_dir(home.sysroots().join(&old));
        out.info(&format!("{triple}: updated {old} -> {version}"));
    }
    Ok(())
}
