//! `fastmusl show`: where things are, what is installed, which cargo config
//! files are wired, and whether cargo will really use fastmusl's settings.

use anyhow::Result;

use crate::{
    cargo_config::{self, WiringMode},
    dist_server::DistServer,
    home::{FastmuslHome, InstallState},
    manifest::trusted_keys,
    targets::wirings_for,
};

/// Environment variables that make cargo ignore fastmusl's settings.
pub fn environment_overrides(triples: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    for triple in triples {
        let upper = triple.to_uppercase().replace(['-', '.'], "_");
        let lower = triple.replace(['-', '.'], "_");
        for var in [
            format!("CARGO_TARGET_{upper}_LINKER"),
            format!("CC_{lower}"),
            format!("AR_{lower}"),
            "TARGET_CC".to_owned(),
        ] {
            if let Ok(v) = std::env::var(&var) {
                warnings.push(format!("{var}={v} is set in the environment and overrides fastmusl's setting for {triple}"));
            }
        }
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        if let Ok(v) = std::env::var(var)
            && (v.contains("linker") || v.contains("link-self-contained"))
        {
            warnings.push(format!(
                "{var} sets linker options ({v}); they may override fastmusl's linker"
            ));
        }
    }
    warnings
}

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
    for (triple, version) in &state.targets {
        let dir = home.sysroot(version, triple);
        let status = if dir.join("fastmusl-sysroot.toml").is_file() {
            ""
        } else {
            "  (MISSING: run `fastmusl target add` again)"
        };
        println!("{triple}  {version}  {}{status}", dir.display());
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
    let triples: Vec<String> = state.targets.keys().cloned().collect();
    let mut warnings = environment_overrides(&triples);
    // A project config between here and the root wins over the global one.
    if let Ok(mut dir) = std::env::current_dir() {
        let ours = wirings_for(&home, &state.targets);
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
