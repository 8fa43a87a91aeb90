//! Reproducibility: a second clean build of every sysroot, in another
//! directory (so under other absolute paths), gives the same bytes for every
//! file; and `dist` over either set of sysroots gives byte-identical
//! archives and channel manifest (signatures use fresh randomness, so they
//! are compared by verifying them instead). The shipped fastmusl binaries
//! are built once per checkout (target/installer-build), so both runs share
//! them; their paths are remapped, and two checkouts in different
//! directories were seen to give the same bytes.

mod common;

use std::path::Path;

use common::{TARGETS, shared_mirror, sysroot};
use fastmusl_dist::signature::{TrustedKey, verify};
use xtask::{
    dist::{DistRequest, run},
    signing::generate_keypair,
    sysroot::{SysrootRequest, build_or_reuse},
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
fn clean_rebuilds_and_their_releases_are_bit_identical() {
    let keys = tempfile::tempdir().unwrap();
    let (public, secret) = generate_keypair(keys.path(), "throwaway").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let fresh_root = elsewhere.path().join("sysroots");

    for triple in TARGETS {
        let cached = sysroot(triple);
        let fresh = build_or_reuse(&SysrootRequest {
            triple: triple.parse().unwrap(),
            mirror: Some(shared_mirror()),
            out_root: fresh_root.clone(),
        })
        .unwrap();
        let (a, b) = (file_hashes(&cached.dir), file_hashes(&fresh));
        assert!(a.len() > 1000, "{triple}: only {} files", a.len());
        let libc = |h: &[(String, String)]| h.iter().find(|(p, _)| p == "lib/libc.a").cloned();
        assert!(libc(&a).is_some());
        assert_eq!(libc(&a), libc(&b), "{triple}: libc.a differs");
        let differing: Vec<&String> = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| &x.0)
            .collect();
        assert!(
            a.len() == b.len() && differing.is_empty(),
            "{triple}: differing files: {differing:?}"
        );
    }

    let release = |sysroot_root: &Path, out: &Path| {
        run(&DistRequest {
            targets: TARGETS.iter().map(|t| t.parse().unwrap()).collect(),
            out: out.to_path_buf(),
            sign_key: Some(secret.clone()),
            sysroot_root: sysroot_root.to_path_buf(),
            mirror: Some(shared_mirror()),
            channel: "stable".to_owned(),
            with_installer: true,
            dist_server: "http://127.0.0.1:1".to_owned(),
        })
        .unwrap()
    };
    let cached_root = sysroot(TARGETS[0]).dir.parent().unwrap().to_path_buf();
    let out_a = elsewhere.path().join("release-a");
    let out_b = elsewhere.path().join("release-b");
    release(&cached_root, &out_a);
    release(&fresh_root, &out_b);

    let (a, b) = (file_hashes(&out_a), file_hashes(&out_b));
    let unsigned = |h: &[(String, String)]| -> Vec<(String, String)> {
        h.iter()
            .filter(|(p, _)| !p.ends_with(".minisig"))
            .cloned()
            .collect()
    };
    assert_eq!(unsigned(&a), unsigned(&b));
    // The manifest; per target a sysroot archive and a fastmusl binary, each
    // with its .sha256; install.sh and its .sha256.
    assert_eq!(unsigned(&a).len(), 1 + 4 * TARGETS.len() + 2, "{a:?}");
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
}
