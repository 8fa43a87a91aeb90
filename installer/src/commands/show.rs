//! `fastmusl show`: where things are, what is installed, which cargo config
//! files are wired, and whether cargo will really use fastmusl's settings.

use anyhow::Result;
use fastmusl::{
    cargo_config::{self, WiringMode},
    dist_server::DistServer,
    home::{FastmuslHome, InstallState},
    manifest::trusted_keys,
    wiring,
};
use fastmusl_dist::sysroot::SysrootManifest;

pub fn show() -> Result<()> {
    let home = FastmuslHome::from_env()?;
    let state = InstallState::load(&home)?;
    println!("fastmusl home: {}", home.root.display());
    match DistServer::from_env() {
        Ok(server) => println!("dist server:   {}", server.describe()),
        Err(e) => println!("dist server:   invalid: {e:#}"),
    }
    let version = cargo_config::cargo_version();
    match version {
        Some((major, minor)) => println!(
            "cargo:         {major}.{minor} ({})",
            match WiringMode::for_cargo_version(version) {
                WiringMode::Include => "wired with config `include`",
                WiringMode::InPlace => "too old for config `include`: keys are edited in place",
            }
        ),
        None => println!("cargo:         not found on PATH"),
    }
    println!();
    println!("installed sysroots");
    println!("------------------");
    if state.targets.is_empty() {
        println!("(none) — `fastmusl target add x86_64-unknown-linux-musl` installs one");
    }
    for (triple, installed) in &state.targets {
        let dir = home.sysroot(triple, installed);
        let version = &installed.version;
        match SysrootManifest::read(&dir) {
            Ok(manifest) => {
                let runner = manifest.wiring.runner.for_host(std::env::consts::ARCH);
                println!(
                    "{triple}  {version}  flavor {}  {}  (runs {})",
                    manifest.flavor,
                    dir.display(),
                    match runner {
                        Some(emulator) => format!("under {emulator}"),
                        None => "natively".to_owned(),
                    }
                );
            }
            Err(e) => println!(
                "{triple}  {version}  flavor {}  {}  (PROBLEM: {e}; run `fastmusl target add {triple} --flavor {}` again)",
                installed.flavor,
                dir.display(),
                installed.flavor
            ),
        }
    }
    println!();
    println!("wired cargo config files");
    println!("------------------------");
    if state.wirings.is_empty() {
        println!("(none)");
    }
    for wiring in &state.wirings {
        let current = cargo_config::read_optional(&wiring.config)?;
        let status = match current {
            Some(text) if text == wiring.written => "as fastmusl left it",
            Some(_) => "changed since fastmusl edited it",
            None => "MISSING",
        };
        println!("{} ({status})", wiring.config.display());
    }
    println!();
    println!("trusted keys");
    println!("------------");
    for (what, _) in trusted_keys(&home)? {
        println!("{what}");
    }
    // Targets whose sysroot is damaged are reported above.
    let ours = wiring::installed_readable(&home, &state.targets);
    let mut warnings = wiring::environment_overrides(&ours);
    warnings.extend(wiring::missing_runners(&ours));
    // A project config between here and the root wins over the global one.
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let config = cargo_config::config_in(&dir.join(".cargo"));
            let wired = state.wirings.iter().any(|w| w.config == config);
            if !wired
                && let Ok(Some(text)) = cargo_config::read_optional(&config)
                && let Ok(found) = cargo_config::conflicts(&config, &text, &ours)
            {
                warnings.extend(
                    found
                        .iter()
                        .map(|c| format!("{c}\n  (this project's setting wins over fastmusl's)")),
                );
            }
            if let Ok(Some(text)) = cargo_config::read_optional(&config)
                && let Some(note) = cargo_config::shadowed_build_rustflags(&config, &text, &ours)
            {
                warnings.push(note);
            }
            if !dir.pop() {
                break;
            }
        }
    }
    if !warnings.is_empty() {
        println!();
        println!("warnings");
        println!("--------");
        for w in warnings {
            println!("{w}");
        }
    }
    Ok(())
}
