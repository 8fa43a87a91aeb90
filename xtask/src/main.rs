//! `cargo xtask`: parses the command line and dispatches; the work is in the
//! library's modules.

mod flags;

use anyhow::{Context, Result};
use clap::Parser;
use xtask::{
    default_sysroot_root,
    dist::{self, DistRequest},
    fixture, signing,
    sysroot::{self, SysrootRequest},
    tree_hash::Tree,
};

fn main() -> Result<()> {
    let flags = flags::Xtask::parse();
    match flags.command {
        flags::Command::Sysroot {
            target,
            flavor,
            mirror,
            out,
        } => {
            // The flavor is checked before minutes of building.
            let table = xtask::platforms::PlatformTable::project()?;
            let names: Vec<String> = table.flavor.iter().map(|f| f.name.clone()).collect();
            let order = sysroot::flavors_ending_with(&names, &flavor)?;
            let request = SysrootRequest {
                triple: target,
                mirror,
                out_root: out.unwrap_or_else(default_sysroot_root),
                extra_flavors: Vec::new(),
            };
            sysroot::build_or_reuse(&request)?;
            // One line per flavor, --flavor's last (for `| tail -n1`).
            for name in order {
                let dir = sysroot::sysroot_dir(&request.out_root, &name, request.triple.as_str());
                println!("{}", dir.display());
            }
        }
        flags::Command::Demo { target, mirror } => {
            let request = SysrootRequest {
                triple: target,
                mirror,
                out_root: default_sysroot_root(),
                extra_flavors: Vec::new(),
            };
            let dir = sysroot::build_or_reuse(&request)?;
            fixture::run_demo(&dir)?;
        }
        flags::Command::Dist {
            targets,
            out,
            sign_key,
            sysroots,
            mirror,
            channel,
            no_installer,
            dist_server,
        } => {
            let started = std::time::Instant::now();
            let targets = if targets.is_empty() {
                let table = xtask::platforms::PlatformTable::project()?;
                table.target.into_iter().map(|row| row.triple).collect()
            } else {
                targets
            };
            let output = dist::run(&DistRequest {
                targets,
                out,
                sign_key,
                sysroot_root: sysroots.unwrap_or_else(default_sysroot_root),
                mirror,
                channel,
                with_installer: !no_installer,
                installer_build: Default::default(),
                dist_server,
                compression_cache: Some(xtask::project_root().join("target/dist-cache")),
            })?;
            match &output.signed_by {
                Some(id) => eprintln!("fastmusl: signed with key {id}"),
                None => eprintln!("fastmusl: NOT signed"),
            }
            eprintln!(
                "fastmusl: dist took {:.1} s",
                started.elapsed().as_secs_f64()
            );
            println!("{}", output.manifest.display());
        }
        flags::Command::Bench {
            rewrite: Some(report_json),
            ..
        } => xtask::bench::rewrite(&report_json)?,
        flags::Command::Bench {
            quick,
            mirror,
            secure_levels: true,
            ..
        } => {
            let dir = xtask::bench::secure_levels(quick, mirror)?;
            eprintln!("fastmusl: report in {}", dir.display());
        }
        flags::Command::Bench {
            quick,
            mirror,
            free_checks: true,
            ..
        } => {
            let dir = xtask::bench::free_checks(quick, mirror)?;
            eprintln!("fastmusl: report in {}", dir.display());
        }
        flags::Command::Bench {
            quick,
            mirror,
            memory_study: true,
            points,
            ..
        } => {
            let dir = xtask::bench::memory_study(quick, mirror, &points)?;
            eprintln!("fastmusl: report in {}", dir.display());
        }
        flags::Command::Bench { quick, mirror, .. } => {
            let dir = xtask::bench::run(quick, mirror)?;
            eprintln!("fastmusl: report in {}", dir.display());
        }
        flags::Command::Keygen { out, name } => {
            let (public, secret) = signing::generate_keypair(&out, &name)?;
            println!("public key: {}", public.display());
            println!(
                "secret key: {} (keep it private; it has no password)",
                secret.display()
            );
        }
        flags::Command::TreeHash { path, subdirs } => {
            let tree = if path.is_dir() {
                let subdirs: Vec<&str> = subdirs.iter().map(String::as_str).collect();
                Tree::from_dirs(&path, &subdirs)?
            } else {
                let file = std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?;
                Tree::from_tar(xtask::fetch::decompress(&path.to_string_lossy(), file)?)?
            };
            eprintln!("{} entries", tree.len());
            println!("{}", tree.sha256());
        }
    }
    Ok(())
}
