//! Reproducibility: a second clean build of the x86_64 and aarch64 sysroots
//! (the recipe is the same for every row), in another
//! directory (so under other absolute paths), gives the same bytes for every
//! file; and `dist` of the x86_64 target over either set of sysroots gives
//! byte-identical archives, fastmusl binary and channel manifest
//! (signatures use fresh randomness, so they are compared by verifying them
//! instead). The second `dist` also builds its fastmusl binary with a copy
//! of the toolchain that lacks rust-src (with rust-src, rustc names std's
//! sources by local paths), while the first uses the toolchain itself,
//! which has it, under a caller's environment full of build settings
//! (`RUSTC_BOOTSTRAP=1`, `RUSTFLAGS`, `CARGO_ENCODED_RUSTFLAGS`,
//! `CARGO_BUILD_*`, `CARGO_PROFILE_*`), which `dist` must not let through.
//! No shipped file may hold a path of the build machine.
//!
//! Packing and the installer's build are the same code for every target,
//! and a clean installer build takes over two minutes on CI's two cores:
//! the releases hold one target, the sysroot comparison two.

mod common;

use std::path::{Path, PathBuf};

use common::{X86_64, shared_mirror, stdout_of, sysroot, sysroot_in, targets};
use fastmusl_dist::signature::{TrustedKey, verify};
use xtask::{
    dist::{DistRequest, InstallerBuild, run},
    project_root,
    signing::generate_keypair,
    sysroot::{SysrootRequest, build_or_reuse, sysroot_dir},
    tree_hash::sha256_hex,
};

/// sha256 of every file under `dir`, by relative path, sorted.
fn file_hashes(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, sha256_hex(&std::fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn clean_rebuilds_and_their_releases_are_bit_identical_with_or_without_rust_src() {
    let keys = tempfile::tempdir().unwrap();
    let (public, secret) = generate_keypair(keys.path(), "throwaway").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let fresh_root = elsewhere.path().join("sysroots");

    // The recipe is one for every row, so one row is rebuilt: with libc++
    // a rebuild takes about 100 s, and a second row would cost CI that
    // again. (Before libc++ both x86_64 and aarch64 were rebuilt here, and
    // matched.) `FASTMUSL_REPRODUCE=T1,T2` rebuilds other rows instead.
    let rebuilt: Vec<String> = match std::env::var("FASTMUSL_REPRODUCE") {
        Ok(list) => list.split(',').map(str::to_owned).collect(),
        Err(_) => targets().into_iter().filter(|t| t == X86_64).collect(),
    };
    let Some(released) = rebuilt.first().cloned() else {
        eprintln!("skipped: the x86_64 row is rebuilt, and it is not under test");
        return;
    };
    for triple in &rebuilt {
        let triple = triple.as_str();
        build_or_reuse(&SysrootRequest {
            triple: triple.parse().unwrap(),
            mirror: Some(shared_mirror()),
            out_root: fresh_root.clone(),
            extra_flavors: Vec::new(),
        })
        .unwrap();
        // Every flavor: the default, and the secure one relinked from the
        // same build.
        for flavor in ["default", "secure"] {
            let cached = sysroot_in(triple, flavor);
            let fresh = sysroot_dir(&fresh_root, flavor, triple);
            let (a, b) = (file_hashes(&cached.dir), file_hashes(&fresh));
            assert!(a.len() > 1000, "{triple} {flavor}: only {} files", a.len());
            let libc = |h: &[(String, String)]| h.iter().find(|(p, _)| p == "lib/libc.a").cloned();
            assert!(libc(&a).is_some());
            assert_eq!(libc(&a), libc(&b), "{triple} {flavor}: libc.a differs");
            let differing: Vec<&String> = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x != y)
                .map(|(x, _)| &x.0)
                .collect();
            assert!(
                a.len() == b.len() && differing.is_empty(),
                "{triple} {flavor}: differing files: {differing:?}"
            );
        }
    }

    let toolchain = rustc_sysroot();
    assert!(
        toolchain.join("lib/rustlib/src/rust/library").is_dir(),
        "this test needs rust-src in {} (ci/install-deps.sh installs it)",
        toolchain.display()
    );
    let no_rust_src = toolchain_without_rust_src(&toolchain, &elsewhere.path().join("toolchain"));
    let release = |sysroot_root: &Path,
                   out: &Path,
                   installer_build: InstallerBuild,
                   compression_cache: Option<PathBuf>| {
        run(&DistRequest {
            targets: vec![released.parse().unwrap()],
            out: out.to_path_buf(),
            sign_key: Some(secret.clone()),
            sysroot_root: sysroot_root.to_path_buf(),
            mirror: Some(shared_mirror()),
            channel: "stable".to_owned(),
            with_installer: true,
            installer_build,
            dist_server: "http://127.0.0.1:1".to_owned(),
            compression_cache,
        })
        .unwrap()
    };
    let cached_root = sysroot(X86_64).dir.parent().unwrap().to_path_buf();
    let out_a = elsewhere.path().join("release-a");
    let out_b = elsewhere.path().join("release-b");
    // The first release may take its archives from dist's cache (made by an
    // earlier zstd run); the second compresses anew, so zstd must give the
    // same bytes again.
    release(
        &cached_root,
        &out_a,
        InstallerBuild::default(),
        Some(project_root().join("target/dist-cache")),
    );
    // What a developer's shell or a CI runner may export. Each changes the
    // installer's bytes if cargo sees it (RUSTC_BOOTSTRAP through the
    // nightly features that build scripts probe for).
    let caller_settings = [
        ("RUSTC_BOOTSTRAP", "1"),
        ("RUSTFLAGS", "-Copt-level=1"),
        ("CARGO_ENCODED_RUSTFLAGS", "-Cdebuginfo=1"),
        ("CARGO_BUILD_RUSTFLAGS", "-Ccodegen-units=16"),
        ("CARGO_PROFILE_RELEASE_DEBUG", "true"),
        ("CARGO_PROFILE_RELEASE_LTO", "false"),
        ("CARGO_INCREMENTAL", "1"),
    ];
    for (name, value) in caller_settings {
        // SAFETY: this test binary holds this one test, so no other thread
        // reads the environment meanwhile.
        unsafe { std::env::set_var(name, value) };
    }
    release(
        &fresh_root,
        &out_b,
        InstallerBuild {
            target_dir: Some(elsewhere.path().join("installer-build")),
            rustc: Some(no_rust_src),
            only_hosts: None,
        },
        None,
    );
    for (name, _) in caller_settings {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }

    let (a, b) = (file_hashes(&out_a), file_hashes(&out_b));
    let unsigned = |h: &[(String, String)]| -> Vec<(String, String)> {
        h.iter()
            .filter(|(p, _)| !p.ends_with(".minisig"))
            .cloned()
            .collect()
    };
    assert_eq!(unsigned(&a), unsigned(&b));
    // The manifest; per target a sysroot archive per flavor, per installer
    // host a fastmusl binary, each with its .sha256; install.sh and its
    // .sha256.
    let hosts = installer_hosts(std::slice::from_ref(&released));
    let flavors = xtask::platforms::PlatformTable::project()
        .unwrap()
        .flavor
        .len();
    assert_eq!(flavors, 2);
    assert_eq!(unsigned(&a).len(), 1 + 2 * flavors + 2 * hosts + 2, "{a:?}");
    let key = TrustedKey::parse("throwaway", &std::fs::read_to_string(&public).unwrap()).unwrap();
    for out in [&out_a, &out_b] {
        for (name, _) in unsigned(&a) {
            if name.ends_with(".sha256") {
                continue;
            }
            let data = std::fs::read(out.join(&name)).unwrap();
            let sig = std::fs::read_to_string(out.join(format!("{name}.minisig"))).unwrap();
            verify(&name, &data, &sig, std::slice::from_ref(&key)).unwrap();
        }
    }

    let mut forbidden = build_machine_paths();
    forbidden.push(format!("{}/", elsewhere.path().display()));
    let mut found = Vec::new();
    for (name, _) in &a {
        let mut bytes = std::fs::read(out_a.join(name)).unwrap();
        if name.ends_with(".tar.zst") {
            bytes = zstd::decode_all(bytes.as_slice()).unwrap();
        }
        for prefix in &forbidden {
            if bytes.windows(prefix.len()).any(|w| w == prefix.as_bytes()) {
                found.push(format!("{name}: {prefix}"));
            }
        }
    }
    assert!(found.is_empty(), "build-machine paths shipped: {found:#?}");
}

/// The default toolchain's sysroot (`rustc --print sysroot`).
fn rustc_sysroot() -> PathBuf {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    PathBuf::from(stdout_of(&out).trim())
}

/// The toolchain at `from` copied to `to` without `lib/rustlib/src`: hard
/// links where the file system allows (no bytes copied), else a copy.
fn toolchain_without_rust_src(from: &Path, to: &Path) -> PathBuf {
    let copy = |flags: &str| {
        std::process::Command::new("cp")
            .arg(flags)
            .arg(from)
            .arg(to)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    if !copy("-al") {
        let _ = std::fs::remove_dir_all(to);
        assert!(copy("-a"), "copying {}", from.display());
    }
    std::fs::remove_dir_all(to.join("lib/rustlib/src")).unwrap();
    to.join("bin/rustc")
}

/// Paths of this machine that must not reach a release.
fn build_machine_paths() -> Vec<String> {
    let home = std::env::var("HOME").unwrap();
    let mut paths = vec![
        format!("{home}/"),
        format!("{}/", project_root().display()),
        format!("{}/", rustc_sysroot().display()),
    ];
    for var in ["CARGO_HOME", "RUSTUP_HOME", "CARGO_TARGET_DIR"] {
        if let Ok(v) = std::env::var(var) {
            paths.push(format!("{v}/"));
        }
    }
    paths
}

/// How many of `targets` ship an installer binary.
fn installer_hosts(targets: &[String]) -> usize {
    let table = xtask::platforms::PlatformTable::project().unwrap();
    table
        .target
        .iter()
        .filter(|t| t.installer_host && targets.contains(&t.triple.to_string()))
        .count()
}
