//! `fastmusl update`: a newer signed release (here the same sysroot
//! repacked as revision r2, with a later timestamp) replaces the installed
//! one side by side, cargo is pointed at it, the old one is removed, and
//! builds keep working.

mod common;

use std::io::Read;

use common::{HttpServer, Sandbox, TARGETS, copy_of_release, release, resign_manifest, text, tree};

const OLD: &str = "musl1.2.6-mimalloc3.4.3-r1";
const NEW: &str = "musl1.2.6-mimalloc3.4.3-r2";

/// A copy of the release whose x86_64 archive is repacked under the NEW
/// version's names, in a re-signed manifest with a later timestamp.
fn newer_release() -> tempfile::TempDir {
    let copy = copy_of_release();
    let old_top = format!("fastmusl-sysroot-{OLD}-{}", TARGETS[0]);
    let new_top = format!("fastmusl-sysroot-{NEW}-{}", TARGETS[0]);
    let old_bytes = std::fs::read(copy.path().join(format!("{old_top}.tar.zst"))).unwrap();
    let tar = zstd::decode_all(old_bytes.as_slice()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry
            .path()
            .unwrap()
            .display()
            .to_string()
            .replacen(&old_top, &new_top, 1);
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        match header.entry_type() {
            tar::EntryType::Symlink => {
                let link = entry.link_name().unwrap().unwrap().into_owned();
                builder.append_link(&mut header, &path, link).unwrap();
            }
            _ => builder
                .append_data(&mut header, &path, data.as_slice())
                .unwrap(),
        }
    }
    let bytes = zstd::encode_all(builder.into_inner().unwrap().as_slice(), 3).unwrap();
    let name = format!("{new_top}.tar.zst");
    std::fs::write(copy.path().join(&name), &bytes).unwrap();
    let sha256 = xtask::tree_hash::sha256_hex(&bytes);
    resign_manifest(copy.path(), |m| {
        m.release_timestamp += 86_400;
        m.sysroot.version = NEW.to_owned();
        m.sysroot.target.retain(|t, _| t == TARGETS[0]);
        let artifact = m.sysroot.target.get_mut(TARGETS[0]).unwrap();
        artifact.url = name;
        artifact.size = bytes.len() as u64;
        artifact.sha256 = sha256;
    });
    copy
}

#[test]
fn update_installs_the_newer_release_side_by_side_and_removes_the_old() {
    let first = HttpServer::serve(&release().dir);
    let mut sb = Sandbox::new(&first.url);
    sb.fastmusl_ok(&["target", "add", TARGETS[0]]);
    let up_to_date = sb.fastmusl_ok(&["update"]);
    assert!(
        text(&up_to_date.stderr).contains("is up to date"),
        "{}",
        text(&up_to_date.stderr)
    );

    let newer_dir = newer_release();
    let newer = HttpServer::serve(newer_dir.path());
    sb.dist_server = newer.url.clone();
    let out = sb.fastmusl_ok(&["update"]);
    assert!(
        text(&out.stderr).contains(&format!("updated {OLD} -> {NEW}")),
        "{}",
        text(&out.stderr)
    );

    let sysroots = tree(&sb.fastmusl_home().join("sysroots"));
    assert!(
        sysroots
            .iter()
            .any(|p| p.starts_with(&format!("{NEW}/{}", TARGETS[0]))),
        "{sysroots:?}"
    );
    assert!(
        !sysroots.iter().any(|p| p.starts_with(OLD)),
        "the old sysroot was left: {sysroots:?}"
    );
    let owned = std::fs::read_to_string(sb.fastmusl_home().join("cargo-config.toml")).unwrap();
    assert!(owned.contains(NEW) && !owned.contains(OLD), "{owned}");

    let project = sb.project("alloc-churn");
    let build = sb.cargo(&project, &["build", "--target", TARGETS[0]], &[]);
    assert!(build.status.success(), "{}", text(&build.stderr));
    common::assert_native_binary_uses_mimalloc(&project, "alloc-churn", "debug");

    // Going back to the older release is a rollback now.
    sb.dist_server = first.url.clone();
    let back = sb.fastmusl(&["update"]);
    assert!(
        !back.status.success() && text(&back.stderr).contains("rollback"),
        "{}",
        text(&back.stderr)
    );
}
