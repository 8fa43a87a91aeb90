//! Hostile release contents, each correctly listed in a validly signed
//! manifest (so only the installer's own checks stand in the way): archives
//! with `..`, absolute paths, symlinks leading out, hard links, device
//! files, or more bytes than any sysroot; and a replayed older manifest.
//! Each is refused with a clear message, and nothing is half-written.

mod common;

use common::{HttpServer, Sandbox, TARGETS, copy_of_release, release, resign_manifest, text, tree};

const VERSION: &str = "musl1.2.6-mimalloc3.4.3-r1";

fn top() -> String {
    format!("fastmusl-sysroot-{VERSION}-{}", TARGETS[0])
}

/// A tar entry with a raw name (the tar crate refuses to write bad ones).
fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    header.as_gnu_mut().unwrap().name[..bytes.len()].copy_from_slice(bytes);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    if let Some(link) = link {
        header.set_link_name(link).unwrap();
    }
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// A harmless start (the top directory and one file), then `hostile`.
fn archive(hostile: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        &format!("{}/", top()),
        tar::EntryType::Directory,
        None,
        b"",
    );
    raw_entry(
        &mut builder,
        &format!("{}/README", top()),
        tar::EntryType::Regular,
        None,
        b"hello\n",
    );
    hostile(&mut builder);
    zstd::encode_all(builder.into_inner().unwrap().as_slice(), 3).unwrap()
}

/// Serves a copy of the release whose x86_64 artifact is `bytes`, listed
/// with its true size and hash in a re-signed manifest; `add` must fail
/// with `expected` and leave nothing behind.
fn assert_hostile_refused(bytes: Vec<u8>, expected: &str) {
    let copy = copy_of_release();
    let name = format!("{}.tar.zst", top());
    std::fs::write(copy.path().join(&name), &bytes).unwrap();
    let sha256 = xtask::tree_hash::sha256_hex(&bytes);
    resign_manifest(copy.path(), |m| {
        let artifact = m.sysroot.target.get_mut(TARGETS[0]).unwrap();
        artifact.size = bytes.len() as u64;
        artifact.sha256 = sha256;
    });
    let server = HttpServer::serve(copy.path());
    let sb = Sandbox::new(&server.url);
    let outside = sb.dir.path().join("outside");
    let out = sb.fastmusl(&["target", "add", TARGETS[0]]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a hostile archive was accepted");
    assert!(
        stderr.contains(expected),
        "expected `{expected}` in:\n{stderr}"
    );
    let sysroots = tree(&sb.fastmusl_home().join("sysroots"));
    assert!(
        sysroots.iter().all(|p| !p.contains(TARGETS[0])),
        "half-written: {sysroots:?}"
    );
    assert!(
        !sb.cargo_config().exists(),
        "cargo was wired to a refused sysroot"
    );
    assert!(!outside.exists());
}

#[test]
fn an_entry_with_dotdot_is_refused() {
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/../../outside", top()),
            tar::EntryType::Regular,
            None,
            b"x",
        )
    });
    assert_hostile_refused(bytes, "climbs out with `..`");
}

#[test]
fn an_absolute_entry_is_refused() {
    let bytes = archive(|b| {
        raw_entry(
            b,
            "/tmp/fastmusl-absolute-entry",
            tar::EntryType::Regular,
            None,
            b"x",
        )
    });
    assert_hostile_refused(bytes, "is an absolute path");
    assert!(!std::path::Path::new("/tmp/fastmusl-absolute-entry").exists());
}

#[test]
fn an_entry_outside_the_top_directory_is_refused() {
    let bytes = archive(|b| raw_entry(b, "elsewhere/file", tar::EntryType::Regular, None, b"x"));
    assert_hostile_refused(bytes, "outside the expected top directory");
}

#[test]
fn a_symlink_leading_out_is_refused() {
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/lib", top()),
            tar::EntryType::Symlink,
            Some("../../../../etc"),
            b"",
        )
    });
    assert_hostile_refused(bytes, "outside the sysroot");
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/lib", top()),
            tar::EntryType::Symlink,
            Some("/etc"),
            b"",
        )
    });
    assert_hostile_refused(bytes, "symlink to the absolute path");
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/inner", top()),
            tar::EntryType::Symlink,
            Some("."),
            b"",
        );
        raw_entry(
            b,
            &format!("{}/inner/file", top()),
            tar::EntryType::Regular,
            None,
            b"x",
        );
    });
    assert_hostile_refused(bytes, "goes through a symlink");
}

#[test]
fn hard_links_and_device_files_are_refused() {
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/passwd", top()),
            tar::EntryType::Link,
            Some("/etc/passwd"),
            b"",
        )
    });
    assert_hostile_refused(
        bytes,
        "a sysroot holds only files, directories and symlinks",
    );
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/null", top()),
            tar::EntryType::Char,
            None,
            b"",
        )
    });
    assert_hostile_refused(
        bytes,
        "a sysroot holds only files, directories and symlinks",
    );
}

#[test]
fn an_archive_that_unpacks_past_the_size_bound_is_refused() {
    // 300 MiB of zeros compress to a few hundred KiB.
    let zeros = vec![0u8; 300 << 20];
    let bytes = archive(|b| {
        raw_entry(
            b,
            &format!("{}/huge", top()),
            tar::EntryType::Regular,
            None,
            &zeros,
        )
    });
    drop(zeros);
    assert!(bytes.len() < 2 << 20);
    assert_hostile_refused(bytes, "unpacks to more than");
}

#[test]
fn a_replayed_older_manifest_is_refused_unless_downgrade_is_allowed() {
    let newer = HttpServer::serve(&release().dir);
    let older_dir = copy_of_release();
    resign_manifest(older_dir.path(), |m| {
        m.release_timestamp -= 86_400 * 30;
        m.date = "2000-01-01".to_owned();
    });
    let older = HttpServer::serve(older_dir.path());

    let mut sb = Sandbox::new(&newer.url);
    sb.fastmusl_ok(&["target", "add", TARGETS[0]]);
    sb.dist_server = older.url.clone();
    let config = std::fs::read(sb.cargo_config()).unwrap();
    let out = sb.fastmusl(&["target", "add", TARGETS[1]]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "an older manifest was accepted");
    assert!(stderr.contains("rollback"), "{stderr}");
    assert!(stderr.contains("--allow-downgrade"), "{stderr}");
    assert_eq!(std::fs::read(sb.cargo_config()).unwrap(), config);
    assert!(!text(&sb.fastmusl_ok(&["target", "list", "--installed"]).stdout).contains(TARGETS[1]));

    sb.fastmusl_ok(&["target", "add", TARGETS[1], "--allow-downgrade"]);
    // The newest accepted release stays the bar for later runs.
    let again = sb.fastmusl(&["target", "list"]);
    assert!(!again.status.success(), "{}", text(&again.stdout));
}
