//! Hostile release contents, each correctly listed in a validly signed
//! manifest (so only the installer's own checks stand in the way), offered
//! as an update over a working install: archives with `..`, absolute paths,
//! symlinks of every kind (leading out, chains whose every step looks
//! inside, a file entry written over an earlier link, a directory reached
//! through a link), hard links, device files, a name given twice, or more
//! bytes than any sysroot; and a replayed older manifest. Each is refused
//! with a clear message, and nothing in the sandbox changes: not the
//! previous install, not the cargo config, not the paths the archives aim
//! at. And dist servers that misbehave on purpose: silent, stopping
//! halfway, trickling, never ending, flooding, or serving other bytes of the
//! right size: each is given up on within its limits, with the URL and the
//! setting to change in the message.

mod common;

use std::time::{Duration, Instant};

use common::{
    AARCH64, HttpServer, MisbehavingServer, Misbehaviour, Sandbox, X86_64, archive_top,
    newer_release_offering, newer_version, release, release_version, resign_manifest, snapshot,
    text,
};

fn top() -> String {
    archive_top(&newer_version(), X86_64)
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

/// The path hostile archives aim at: beside the sandbox's home, so that
/// `snapshot` of the sandbox would show it.
const OUTSIDE: &str = "outside";

/// `../` repeated as often as it takes to climb from the directory an
/// archive is unpacked in (`$FASTMUSL_HOME/sysroots/VERSION/.TRIPLE.partial-PID`)
/// to the sandbox, where OUTSIDE would be.
fn climb_to_sandbox(sb: &Sandbox) -> String {
    let partial_parent = sb.fastmusl_home().join("sysroots").join(newer_version());
    let depth = partial_parent
        .strip_prefix(sb.dir.path())
        .unwrap()
        .components()
        .count();
    "../".repeat(depth + 1)
}

/// Installs the real release's x86_64 sysroot in a fresh sandbox, then
/// offers `make_archive(sandbox)` as an update: `update` must fail with
/// `expected`, and nothing under the sandbox may change.
fn assert_hostile_update_refused(make_archive: impl FnOnce(&Sandbox) -> Vec<u8>, expected: &str) {
    let good = HttpServer::serve(&release().dir);
    let mut sb = Sandbox::new(&good.url);
    sb.fastmusl_ok(&["target", "add", X86_64]);
    let before = snapshot(sb.dir.path());
    assert!(
        before
            .iter()
            .any(|(p, _)| p.ends_with("bin/x86_64-unknown-linux-musl-ld"))
    );

    let hostile = newer_release_offering(&make_archive(&sb));
    let server = HttpServer::serve(hostile.path());
    sb.dist_server = server.url.clone();
    let out = sb.fastmusl(&["update"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a hostile archive was accepted");
    assert!(
        stderr.contains(expected),
        "expected `{expected}` in:\n{stderr}"
    );
    let after = snapshot(sb.dir.path());
    let changed: Vec<_> = after
        .iter()
        .filter(|e| !before.contains(e))
        .chain(before.iter().filter(|e| !after.contains(e)))
        .collect();
    assert!(changed.is_empty(), "the sandbox changed: {changed:?}");
}

fn hostile(entries: Vec<(String, tar::EntryType, Option<String>, &'static [u8])>) -> Vec<u8> {
    archive(|b| {
        for (name, kind, link, data) in entries {
            raw_entry(b, &name, kind, link.as_deref(), data);
        }
    })
}

use tar::EntryType::{Char, Directory, Link, Regular, Symlink};

const REFUSED_KIND: &str = "a sysroot holds only regular files and directories";

#[test]
fn an_entry_with_dotdot_is_refused() {
    assert_hostile_update_refused(
        |sb| {
            let name = format!("{}/{}{OUTSIDE}", top(), climb_to_sandbox(sb));
            hostile(vec![(name, Regular, None, b"x")])
        },
        "climbs out with `..`",
    );
}

#[test]
fn an_absolute_entry_is_refused() {
    assert_hostile_update_refused(
        |sb| {
            let name = sb.dir.path().join(OUTSIDE).display().to_string();
            hostile(vec![(name, Regular, None, b"x")])
        },
        "is an absolute path",
    );
}

#[test]
fn an_entry_outside_the_top_directory_is_refused() {
    assert_hostile_update_refused(
        |_| hostile(vec![("elsewhere/file".to_owned(), Regular, None, b"x")]),
        "outside the expected top directory",
    );
}

#[test]
fn a_symlink_leading_out_is_refused() {
    for target in [
        |sb: &Sandbox| format!("{}{OUTSIDE}", climb_to_sandbox(sb)),
        |sb: &Sandbox| sb.dir.path().join(OUTSIDE).display().to_string(),
    ] {
        assert_hostile_update_refused(
            |sb| {
                let link = target(sb);
                hostile(vec![(format!("{}/lib", top()), Symlink, Some(link), b"")])
            },
            &format!("{}/lib is a symlink; {REFUSED_KIND}", top()),
        );
    }
}

/// A chain of links whose every step, read as text, stays inside, but
/// which leads out when followed: `d1/…/d5/up` -> `../../../../..` is the
/// top directory itself, so `esc` -> `d1/…/d5/up/` + `../` × depth +
/// OUTSIDE lands beside the sandbox's home. Then a regular entry named
/// like the link would be written through it, and a directory reached
/// through it would be created out there.
fn chain(sb: &Sandbox) -> Vec<(String, tar::EntryType, Option<String>, &'static [u8])> {
    let top = top();
    let deep = "d1/d2/d3/d4/d5";
    vec![
        (format!("{top}/{deep}/"), Directory, None, b""),
        (
            format!("{top}/{deep}/up"),
            Symlink,
            Some("../../../../..".to_owned()),
            b"",
        ),
        (
            format!("{top}/esc"),
            Symlink,
            Some(format!("{deep}/up/{}{OUTSIDE}", climb_to_sandbox(sb))),
            b"",
        ),
    ]
}

#[test]
fn a_file_entry_over_a_chain_of_links_is_refused() {
    assert_hostile_update_refused(
        |sb| {
            let mut entries = chain(sb);
            entries.push((format!("{}/esc", top()), Regular, None, b"written outside"));
            hostile(entries)
        },
        &format!("{}/d1/d2/d3/d4/d5/up is a symlink; {REFUSED_KIND}", top()),
    );
}

#[test]
fn a_directory_reached_through_a_link_is_refused() {
    assert_hostile_update_refused(
        |sb| {
            let mut entries = chain(sb);
            entries.push((format!("{}/esc/sub/", top()), Directory, None, b""));
            entries.push((format!("{}/esc/sub/file", top()), Regular, None, b"x"));
            hostile(entries)
        },
        &format!("{}/d1/d2/d3/d4/d5/up is a symlink; {REFUSED_KIND}", top()),
    );
}

#[test]
fn a_file_entry_over_a_file_or_directory_is_refused() {
    for first in [Regular, Directory] {
        assert_hostile_update_refused(
            |_| {
                hostile(vec![
                    (format!("{}/lib/libc.a", top()), first, None, b""),
                    (format!("{}/lib/libc.a", top()), Regular, None, b"second"),
                ])
            },
            &format!("{}/lib/libc.a names a path given before", top()),
        );
    }
}

#[test]
fn hard_links_and_device_files_are_refused() {
    assert_hostile_update_refused(
        |_| {
            hostile(vec![(
                format!("{}/passwd", top()),
                Link,
                Some("/etc/passwd".to_owned()),
                b"",
            )])
        },
        &format!("passwd is a hard link; {REFUSED_KIND}"),
    );
    assert_hostile_update_refused(
        |_| hostile(vec![(format!("{}/null", top()), Char, None, b"")]),
        &format!("null is a device file; {REFUSED_KIND}"),
    );
}

#[test]
fn an_archive_that_unpacks_past_the_size_bound_is_refused() {
    assert_hostile_update_refused(
        |_| {
            // 300 MiB of zeros compress to a few hundred KiB.
            let zeros = vec![0u8; 300 << 20];
            let bytes =
                archive(|b| raw_entry(b, &format!("{}/huge", top()), Regular, None, &zeros));
            assert!(bytes.len() < 2 << 20);
            bytes
        },
        "unpacks to more than",
    );
}

#[test]
fn a_replayed_older_manifest_is_refused_unless_downgrade_is_allowed() {
    let newer = HttpServer::serve(&release().dir);
    let older_dir = common::copy_of_release();
    resign_manifest(older_dir.path(), |m| {
        m.release_timestamp -= 86_400 * 30;
        m.date = "2000-01-01".to_owned();
    });
    let older = HttpServer::serve(older_dir.path());

    let mut sb = Sandbox::new(&newer.url);
    sb.fastmusl_ok(&["target", "add", X86_64]);
    sb.dist_server = older.url.clone();
    let config = std::fs::read(sb.cargo_config()).unwrap();
    let out = sb.fastmusl(&["target", "add", AARCH64]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "an older manifest was accepted");
    assert!(stderr.contains("rollback"), "{stderr}");
    assert!(stderr.contains("--allow-downgrade"), "{stderr}");
    assert_eq!(std::fs::read(sb.cargo_config()).unwrap(), config);
    assert!(!text(&sb.fastmusl_ok(&["target", "list", "--installed"]).stdout).contains(AARCH64));

    sb.fastmusl_ok(&["target", "add", AARCH64, "--allow-downgrade"]);
    // The newest accepted release stays the bar for later runs.
    let again = sb.fastmusl(&["target", "list"]);
    assert!(!again.status.success(), "{}", text(&again.stdout));
}

/// `target add` from a server that misbehaves on the archive, with tight
/// limits (2 s window, 1000 bytes/s, 6 s deadline): refused with
/// `expected` and the archive's URL, well before a user would give up, and
/// nothing written (but the lock file).
fn assert_download_refused(misbehaviour: Misbehaviour, expected: &str) {
    let archive = fastmusl_dist::channel::sysroot_artifact_name(
        &release_version(),
        fastmusl_dist::flavor::DEFAULT,
        X86_64,
    );
    let server = MisbehavingServer::serve(&release().dir, &archive, misbehaviour);
    let sb = Sandbox::new(&server.url);
    let unlocked = |sb: &Sandbox| {
        let mut s = snapshot(sb.dir.path());
        s.retain(|(p, _)| !p.ends_with(".fastmusl/lock"));
        s
    };
    let before = unlocked(&sb);
    let started = Instant::now();
    let out = sb
        .fastmusl_command(&["target", "add", X86_64])
        .env("FASTMUSL_HTTP_TIMEOUT", "2")
        .env("FASTMUSL_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("FASTMUSL_HTTP_DEADLINE", "6")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{misbehaviour:?} was accepted");
    assert!(
        stderr.contains(expected) && stderr.contains(&format!("{}/{archive}", server.url)),
        "{misbehaviour:?}: expected `{expected}` and the URL in:\n{stderr}"
    );
    assert!(
        took < Duration::from_secs(20),
        "{misbehaviour:?}: gave up only after {took:?}"
    );
    assert_eq!(
        unlocked(&sb),
        before,
        "{misbehaviour:?} changed the sandbox"
    );
}

#[test]
fn a_server_that_never_answers_is_given_up_on() {
    assert_download_refused(
        Misbehaviour::Silent,
        "no response: under 1000 bytes/s for 2 s (FASTMUSL_HTTP_LOW_SPEED_LIMIT, FASTMUSL_HTTP_TIMEOUT)",
    );
}

#[test]
fn a_server_that_stops_halfway_is_given_up_on() {
    assert_download_refused(Misbehaviour::StopsHalfway, "no data: under 1000 bytes/s");
}

#[test]
fn a_server_that_trickles_is_given_up_on() {
    assert_download_refused(Misbehaviour::Trickles, "too slow: under 1000 bytes/s");
}

#[test]
fn a_response_that_never_ends_meets_the_deadline() {
    assert_download_refused(
        Misbehaviour::NeverEnds,
        "not finished within the 6 s deadline (FASTMUSL_HTTP_DEADLINE)",
    );
}

#[test]
fn a_flood_is_cut_off_at_the_signed_size() {
    assert_download_refused(Misbehaviour::Floods, "bytes expected; refusing it");
}

#[test]
fn other_bytes_of_the_right_size_are_refused() {
    assert_download_refused(Misbehaviour::SwapsBytes, "does not match");
}
