//! `fastmusl update`: a newer signed release (here the same sysroot
//! repacked as the next revision, its manifest saying so, with a later
//! timestamp) replaces the installed
//! one side by side, cargo is pointed at it, the old one is removed, and
//! builds keep working.

mod common;

use std::io::Read;

use common::{
    HttpServer, Sandbox, X86_64, archive_top, newer_release_offering, newer_version, release,
    release_version, text, tree,
};

/// A copy of the release whose x86_64 archive is repacked under the newer
/// version's names, in a re-signed manifest with a later timestamp.
fn newer_release() -> tempfile::TempDir {
    let old_top = archive_top(&release_version(), X86_64);
    let new_top = archive_top(&newer_version(), X86_64);
    let old_bytes = std::fs::read(release().dir.join(format!("{old_top}.tar.zst"))).unwrap();
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
        // The sysroot says which release it belongs to; the installer checks.
        if path.ends_with(fastmusl_dist::sysroot::MANIFEST_FILE) {
            let manifest = String::from_utf8(data).unwrap().replacen(
                &format!("version = \"{}\"", release_version()),
                &format!("version = \"{}\"", newer_version()),
                1,
            );
            data = manifest.into_bytes();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        builder
            .append_data(&mut header, &path, data.as_slice())
            .unwrap();
    }
    let bytes = zstd::encode_all(builder.into_inner().unwrap().as_slice(), 3).unwrap();
    newer_release_offering(&bytes)
}

#[test]
fn update_installs_the_newer_release_side_by_side_and_removes_the_old() {
    let first = HttpServer::serve(&release().dir);
    let mut sb = Sandbox::new(&first.url);
    sb.fastmusl_ok(&["target", "add", X86_64]);
    let up_to_date = sb.fastmusl_ok(&["update"]);
    assert!(
        text(&up_to_date.stderr).contains("is up to date"),
        "{}",
        text(&up_to_date.stderr)
    );

    let newer_dir = newer_release();
    let newer = HttpServer::serve(newer_dir.path());
    sb.dist_server = newer.url.clone();
    let (old, new) = (release_version(), newer_version());
    let out = sb.fastmusl_ok(&["update"]);
    assert!(
        text(&out.stderr).contains(&format!("updated {old} -> {new}")),
        "{}",
        text(&out.stderr)
    );

    let sysroots = tree(&sb.fastmusl_home().join("sysroots"));
    assert!(
        sysroots
            .iter()
            .any(|p| p.starts_with(&format!("{new}/{}", X86_64))),
        "{sysroots:?}"
    );
    assert!(
        !sysroots.iter().any(|p| p.starts_with(&old)),
        "the old sysroot was left: {sysroots:?}"
    );
    let owned = std::fs::read_to_string(sb.fastmusl_home().join("cargo-config.toml")).unwrap();
    assert!(owned.contains(&new) && !owned.contains(&old), "{owned}");

    let project = sb.project("alloc-churn");
    let build = sb.cargo(&project, &["build", "--target", X86_64], &[]);
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
