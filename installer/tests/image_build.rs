//! `fastmusl image` from a cargo project, the one-command path: a project
//! made by `cargo new` (a program that prints its architecture and uid),
//! committed with git, built by `fastmusl image` for every installed
//! platform and pushed to `docker-registry` on loopback as one index;
//! `skopeo` reads each platform's manifest and config back, `umoci`
//! unpacks each, and its binary runs under its emulator. A second clone,
//! built by another user (another HOME, CARGO_HOME and FASTMUSL_HOME) at
//! another path, gives the same digests; `podman load` takes the image
//! and `podman run` runs it as uid 65532; and what cannot be built is
//! refused with nothing written or pushed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use common::containers::{Registry, index_platforms, path_str, run_ok, skopeo_json};
use common::{AARCH64, HttpServer, Sandbox, X86_64, release, release_targets, text};
use xtask::platforms::PlatformTable;

/// The program: its architecture and uid, from std alone (no crates to
/// fetch, so the build is std's and the program's).
const MAIN_RS: &str = r#"fn main() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    println!("hello from {}, uid {uid}", std::env::consts::ARCH);
}
"#;

/// The commit's time, and so the image's `created` and every mtime.
const COMMIT_TIME: u64 = 1_780_000_000;

/// A sandbox with every released target installed, and the dist server
/// kept up (for the refusals that read the channel).
struct World {
    sandbox: Sandbox,
    _server: HttpServer,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let targets = release_targets();
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let (sandbox, server) = Sandbox::with_targets(&targets);
        World {
            sandbox,
            _server: server,
        }
    })
}

fn git(dir: &Path, args: &[&str]) {
    let date = format!("@{COMMIT_TIME} +0000");
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date),
    );
}

/// `cargo new --vcs git NAME` in `parent` with `MAIN_RS`, a licence and a
/// repository, committed.
fn new_project(sandbox: &Sandbox, parent: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(parent).unwrap();
    let out = sandbox.cargo(parent, &["new", "--vcs", "git", name], &[]);
    assert!(out.status.success(), "cargo new: {}", text(&out.stderr));
    let dir = parent.join(name);
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "edition = ",
        "license = \"MIT OR Apache-2.0\"\nrepository = \"https://example.com/hello\"\nedition = ",
    );
    std::fs::write(&manifest, text).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "hello"]);
    dir
}

fn head_of(dir: &Path) -> String {
    let out = run_ok(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"]),
    );
    text(&out.stdout).trim().to_owned()
}

/// `fastmusl image ARGS` in `dir`.
fn image_in(sandbox: &Sandbox, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sandbox.image_command(args);
    cmd.current_dir(dir).envs(env.iter().copied());
    cmd.output().unwrap()
}

fn image_json(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = image_in(sandbox, dir, &args, &[]);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The architecture `std::env::consts::ARCH` says for a triple.
fn rust_arch(triple: &str) -> &str {
    match triple.split('-').next().unwrap() {
        "armv7" => "arm",
        "riscv64gc" => "riscv64",
        "i686" => "x86",
        "powerpc64le" => "powerpc64",
        arch => arch,
    }
}

#[test]
fn one_command_builds_every_platform_pushes_one_index_and_each_binary_runs_under_its_emulator() {
    let world = world();
    let work = tempfile::tempdir().unwrap();
    let project = new_project(&world.sandbox, work.path(), "hello");
    let registry = Registry::start("");
    let reference = format!("{}/team/hello:v1", registry.host);
    let started = Instant::now();
    let summary = image_json(
        &world.sandbox,
        &project,
        &["--platform", "all", "--push", &reference],
    );
    eprintln!(
        "fastmusl image --platform all ({} targets): {:.1} s",
        release_targets().len(),
        started.elapsed().as_secs_f64()
    );

    let table = PlatformTable::project().unwrap();
    let expected: BTreeMap<String, &xtask::platforms::TargetPlatform> = release_targets()
        .iter()
        .map(|t| {
            let row = table.get(&t.parse().unwrap()).unwrap();
            (row.oci_platform.clone(), row)
        })
        .collect();
    let index = skopeo_json(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    let platforms: Vec<String> = index_platforms(&index)
        .into_iter()
        .map(|(platform, _)| platform)
        .collect();
    assert_eq!(
        platforms,
        expected.keys().cloned().collect::<Vec<_>>(),
        "{index}"
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), expected.len());

    let commit = head_of(&project);
    let host_arch = std::env::consts::ARCH;
    for (platform, row) in &expected {
        let mut parts = platform.split('/').skip(1);
        let arch = parts.next().unwrap();
        let variant = parts.next();
        let mut select = vec!["--override-arch", arch];
        if let Some(v) = variant {
            select.extend(["--override-variant", v]);
        }
        let mut args = vec!["inspect", "--config", "--tls-verify=false"];
        args.extend(&select);
        let remote = format!("docker://{reference}");
        args.push(&remote);
        let config = skopeo_json(&args);
        assert_eq!(config["architecture"], arch, "{platform}");
        assert_eq!(config["variant"].as_str(), variant, "{platform}");
        let c = &config["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/app/hello"]));
        assert_eq!(
            c["Labels"],
            serde_json::json!({
                "org.opencontainers.image.created": "2026-05-28T20:26:40Z",
                "org.opencontainers.image.licenses": "MIT OR Apache-2.0",
                "org.opencontainers.image.revision": commit,
                "org.opencontainers.image.source": "https://example.com/hello",
                "org.opencontainers.image.title": "hello",
                "org.opencontainers.image.version": "0.1.0",
            }),
            "{platform}"
        );

        // Copied out for its platform, unpacked by umoci (which checks
        // each layer against its diff-id), run under its emulator.
        let layout = work
            .path()
            .join(format!("layout-{}", platform.replace('/', "-")));
        let mut copy = Command::new("skopeo");
        copy.args(["copy", "--src-tls-verify=false"])
            .args(&select)
            .arg(&remote)
            .arg(format!("oci:{}:v1", layout.display()));
        run_ok(&mut copy);
        let bundle = work
            .path()
            .join(format!("bundle-{}", platform.replace('/', "-")));
        run_ok(
            Command::new("umoci")
                .args(["unpack", "--image"])
                .arg(format!("{}:v1", layout.display()))
                .arg(&bundle),
        );
        let binary = bundle.join("rootfs/app/hello");
        let mut run = if row.native_on.iter().any(|a| a == host_arch) {
            Command::new(&binary)
        } else {
            let mut cmd = Command::new(&row.emulator);
            cmd.arg(&binary);
            cmd
        };
        let out = run_ok(&mut run);
        assert!(
            text(&out.stdout)
                .starts_with(&format!("hello from {},", rust_arch(row.triple.as_str()))),
            "{platform}: {}",
            text(&out.stdout)
        );
    }
    // The digest printed is the index's the tag points at.
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
    )
    .stdout;
    use sha2::Digest;
    assert_eq!(
        summary["digest"],
        format!("sha256:{:x}", sha2::Sha256::digest(raw))
    );
}

#[test]
fn a_second_clone_built_by_another_user_at_another_path_gives_the_same_digests() {
    let world = world();
    let work = tempfile::tempdir().unwrap();
    let first = new_project(&world.sandbox, &work.path().join("one"), "hello");
    let platforms = "linux/amd64,linux/arm64";
    let a = image_json(
        &world.sandbox,
        &first,
        &[
            "--platform",
            platforms,
            "--oci-dir",
            path_str(&work.path().join("a")),
        ],
    );

    // Another user: another HOME, CARGO_HOME and FASTMUSL_HOME, with the
    // two targets installed from the same release.
    let server = HttpServer::serve(&release().dir);
    let other = Sandbox::new(&server.url);
    other.fastmusl_ok(&["target", "add", X86_64, AARCH64]);
    let second = work.path().join("elsewhere/deeper/clone");
    run_ok(
        Command::new("git")
            .args(["clone", "-q"])
            .arg(&first)
            .arg(&second),
    );
    let b = image_json(
        &other,
        &second,
        &[
            "--platform",
            platforms,
            "--oci-dir",
            path_str(&work.path().join("b")),
        ],
    );
    assert_eq!(a["manifests"], b["manifests"]);
    assert_eq!(a["digest"], b["digest"]);
}

#[test]
fn podman_loads_the_image_and_runs_it_as_65532() {
    let world = world();
    let work = tempfile::tempdir().unwrap();
    let project = new_project(&world.sandbox, work.path(), "hello");
    // podman's storage for this test only (vfs, as in a container
    // without overlayfs), not the machine's.
    let storage = work.path().join("storage.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n",
            work.path().display()
        ),
    )
    .unwrap();
    let storage_env = ("CONTAINERS_STORAGE_CONF", path_str(&storage));
    let out = image_in(
        &world.sandbox,
        &project,
        &["--platform", "linux/amd64", "--load", "podman"],
        &[storage_env],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("loaded hello:0.1.0 into podman"),
        "{}",
        text(&out.stderr)
    );
    // No network, and limits this machine grants: podman's defaults for
    // open files and processes are above its hard limits.
    let run = run_ok(
        Command::new("podman")
            .env(storage_env.0, storage_env.1)
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "localhost/hello:0.1.0",
            ]),
    );
    assert_eq!(text(&run.stdout), "hello from x86_64, uid 65532\n");
}

#[test]
fn what_cannot_be_built_is_refused_and_nothing_is_written_or_pushed() {
    let world = world();
    let sb = &world.sandbox;
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start("");
    let layout = work.path().join("layout");
    let reference = format!("{}/refused:v1", registry.host);
    let destinations = ["--oci-dir", path_str(&layout), "--push", &reference];

    let library = work.path().join("lib");
    let out = sb.cargo(work.path(), &["new", "--lib", "--vcs", "none", "lib"], &[]);
    assert!(out.status.success());
    let two_bins = new_project(sb, &work.path().join("two"), "two");
    std::fs::create_dir_all(two_bins.join("src/bin")).unwrap();
    std::fs::write(two_bins.join("src/bin/other.rs"), "fn main() {}\n").unwrap();
    let broken = new_project(sb, &work.path().join("broken"), "broken");
    std::fs::write(
        broken.join("src/main.rs"),
        "fn main() { let x: u8 = \"no\"; }\n",
    )
    .unwrap();
    let hello = new_project(sb, &work.path().join("hello"), "hello");

    struct Refusal<'a> {
        dir: &'a Path,
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        says: &'a str,
    }
    let cases = [
        Refusal {
            dir: &library,
            args: &[],
            env: &[],
            says: "package lib has no binary",
        },
        Refusal {
            dir: &two_bins,
            args: &[],
            env: &[],
            says: "package two has several binaries (other, two): say which with --bin NAME",
        },
        Refusal {
            dir: &two_bins,
            args: &["--bin", "nope"],
            env: &[],
            says: "--bin nope: package two has no such binary",
        },
        Refusal {
            dir: &hello,
            args: &["--platform", "linux/s390x"],
            env: &[],
            says: "fastmusl has no target for linux/s390x; its platforms: ",
        },
        Refusal {
            dir: &broken,
            args: &[],
            env: &[],
            says: "failed (cargo's errors are above): no image was written or pushed",
        },
        Refusal {
            dir: &hello,
            args: &[],
            env: &[("RUSTFLAGS", "-Copt-level=1")],
            says: "RUSTFLAGS is set, and cargo then ignores target.<triple>.rustflags",
        },
        Refusal {
            dir: &hello,
            args: &["--bin", "hello", "--bin", "./target/hello"],
            env: &[],
            says: "--bin hello names a cargo binary while other --bin values are paths",
        },
    ];
    for Refusal {
        dir,
        args,
        env,
        says,
    } in cases
    {
        let mut all = args.to_vec();
        all.extend(destinations);
        let out = image_in(sb, dir, &all, env);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{dir:?} {args:?} accepted");
        assert!(stderr.contains(says), "{dir:?} {args:?}: {stderr}");
        assert!(!layout.exists(), "{args:?}: wrote {}", layout.display());
        assert!(registry.tags("refused").is_empty(), "{args:?} pushed");
    }
    let broken_out = image_in(sb, &broken, &destinations, &[]);
    assert!(
        text(&broken_out.stderr).contains("error[E0308]: mismatched types"),
        "cargo's own error is shown: {}",
        text(&broken_out.stderr)
    );

    // A platform fastmusl has but this machine lacks names the command
    // that adds it.
    let server = HttpServer::serve(&release().dir);
    let only_x86 = Sandbox::new(&server.url);
    only_x86.fastmusl_ok(&["target", "add", X86_64]);
    let out = image_in(
        &only_x86,
        &hello,
        &[&["--platform", "linux/arm64"][..], &destinations].concat(),
        &[],
    );
    assert!(
        text(&out.stderr)
            .contains("aarch64-unknown-linux-musl is not installed: run `fastmusl target add aarch64-unknown-linux-musl` (or pass --add-targets)"),
        "{}",
        text(&out.stderr)
    );
    assert!(!layout.exists());
    // ... which --add-targets does, verified, before building.
    let out = image_in(
        &only_x86,
        &hello,
        &[
            "--platform",
            "linux/arm64",
            "--add-targets",
            "--oci-dir",
            path_str(&layout),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = text(
        &only_x86
            .fastmusl_ok(&["target", "list", "--installed"])
            .stdout,
    );
    assert!(show.contains(AARCH64), "{show}");
}
