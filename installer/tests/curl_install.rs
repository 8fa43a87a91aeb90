//! The curl-installed path, end to end: `install.sh -y` (served with the
//! release by a loopback HTTP server, run under both dash and bash) fetches
//! the static `fastmusl` binary that `cargo xtask dist` built with
//! fastmusl's own sysroot, verifies it (minisign, or sha256 without it),
//! installs it; that binary adds both targets, plain cargo builds against
//! them and `fastmusl doctor` reports mimalloc (once, under dash: neither
//! depends on the installing shell), and `self uninstall` leaves the cargo
//! config and shell profile as they were.

mod common;

use std::path::Path;

use common::{AARCH64, HttpServer, Sandbox, X86_64, copy_of_release, release, text};
use fastmusl_dist::elf::ElfFacts;
use xtask::fixture::mimalloc_banner;

const USER_CONFIG: &str = "[build]\njobs = 2\n";
const PROFILE: &str = "# my profile\nexport EDITOR=vi\n";

/// Runs the release's install.sh under `shell` in the sandbox (its HOME,
/// CARGO_HOME, FASTMUSL_HOME and dist server), optionally with another PATH.
fn install_sh(
    sb: &Sandbox,
    shell: &str,
    path: Option<&Path>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = sb.command(absolute(shell));
    cmd.arg(release().dir.join("install.sh")).args(args);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

#[test]
fn install_sh_then_add_build_doctor_and_uninstall_under_dash_and_bash() {
    let server = HttpServer::serve(&release().dir);
    for shell in ["dash", "bash"] {
        let sb = Sandbox::new(&server.url);
        std::fs::write(sb.cargo_config(), USER_CONFIG).unwrap();
        std::fs::write(sb.home().join(".profile"), PROFILE).unwrap();

        let out = install_sh(&sb, shell, None, &["-y"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{shell}: {stderr}");
        assert!(
            stderr.contains("verified the minisign signature"),
            "{shell}: {stderr}"
        );
        let fastmusl = sb.fastmusl_home().join("bin/fastmusl");
        let elf = ElfFacts::read(&fastmusl).unwrap();
        assert!(
            !elf.has_interpreter,
            "{shell}: the shipped fastmusl is not static"
        );
        let profile = std::fs::read_to_string(sb.home().join(".profile")).unwrap();
        assert!(
            profile.starts_with(PROFILE) && profile.contains(".fastmusl/env"),
            "{profile}"
        );

        // The shipped binary, with nothing but the sandbox's environment.
        let run = |args: &[&str]| sb.command(&fastmusl).args(args).output().unwrap();
        let add = run(&["target", "add", X86_64, AARCH64]);
        assert!(add.status.success(), "{shell}: {}", text(&add.stderr));

        // Building and doctor do not depend on the shell that installed
        // fastmusl: they run once, under dash.
        if shell == "dash" {
            build_run_and_doctor(&sb, &fastmusl);
        }

        let uninstall = run(&["self", "uninstall", "-y"]);
        assert!(uninstall.status.success(), "{}", text(&uninstall.stderr));
        assert_eq!(
            std::fs::read_to_string(sb.cargo_config()).unwrap(),
            USER_CONFIG
        );
        assert_eq!(
            std::fs::read_to_string(sb.home().join(".profile")).unwrap(),
            PROFILE
        );
        assert!(
            !sb.fastmusl_home().exists(),
            "{shell}: FASTMUSL_HOME is still there"
        );
    }
}

/// Plain cargo builds for both targets the shipped binary added, and its
/// doctor reports them.
fn build_run_and_doctor(sb: &Sandbox, fastmusl: &Path) {
    let project = sb.project("alloc-churn");
    let build = sb.cargo(&project, &["build", "--target", X86_64], &[]);
    assert!(build.status.success(), "{}", text(&build.stderr));
    common::assert_native_binary_uses_mimalloc(&project, "alloc-churn", "debug");
    let ran = sb.cargo(
        &project,
        &["run", "--target", AARCH64],
        &[("MIMALLOC_VERBOSE", "1")],
    );
    assert!(
        ran.status.success() && mimalloc_banner(&text(&ran.stderr)).is_some(),
        "{}",
        text(&ran.stderr)
    );

    let doctor = sb.command(fastmusl).arg("doctor").output().unwrap();
    let report = text(&doctor.stdout);
    assert!(doctor.status.success(), "{report}{}", text(&doctor.stderr));
    for (triple, machine) in [(X86_64, "x86_64 64-bit"), (AARCH64, "aarch64 64-bit")] {
        assert!(
            report.contains(&format!(
                "{triple}: flavor default, static {machine} executable, allocator mimalloc v3.4.3"
            )),
            "{report}"
        );
    }
}

/// `program` as found on this process's PATH (a test may give the child
/// another PATH, which would otherwise be searched for the program too).
fn absolute(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed"))
}

/// A PATH with the tools install.sh uses, but no minisign.
fn path_without_minisign(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "uname",
        "mktemp",
        "rm",
        "awk",
        "curl",
        "sha256sum",
        "cut",
        "mkdir",
        "chmod",
        "mv",
        "cat",
        "grep",
        "tail",
        "sed",
    ] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap();
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    bin
}

#[test]
fn without_minisign_install_sh_checks_sha256_and_says_so_and_adds_targets() {
    let server = HttpServer::serve(&release().dir);
    let sb = Sandbox::new(&server.url);
    let path = path_without_minisign(sb.dir.path());
    let out = install_sh(
        &sb,
        "dash",
        Some(&path),
        &["-y", "--no-modify-path", "--target", X86_64],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("verified the sha256"), "{stderr}");
    // --target ran `fastmusl target add` right away.
    let sysroot = sb
        .fastmusl_home()
        .join("sysroots")
        .join(common::release_version())
        .join(X86_64);
    assert!(sysroot.join("fastmusl-sysroot.toml").exists(), "{stderr}");
    assert!(
        !sb.home().join(".profile").exists(),
        "--no-modify-path touched a profile"
    );
}

#[test]
fn install_sh_refuses_a_tampered_binary_either_way() {
    let copy = copy_of_release();
    let host = common::test_host();
    let binary = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy() == format!("fastmusl-0.1.0-{host}"))
        .unwrap();
    let mut bytes = std::fs::read(&binary).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&binary, bytes).unwrap();
    let server = HttpServer::serve(copy.path());

    let sb = Sandbox::new(&server.url);
    let mut cmd = sb.command(absolute("dash"));
    cmd.arg(copy.path().join("install.sh")).arg("-y");
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not verify with the release key"),
        "{}",
        text(&out.stderr)
    );
    assert!(!sb.fastmusl_home().join("bin/fastmusl").exists());

    let path = path_without_minisign(sb.dir.path());
    let out = cmd.env("PATH", &path).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the channel manifest says"),
        "{}",
        text(&out.stderr)
    );
    assert!(!sb.fastmusl_home().join("bin/fastmusl").exists());
}

/// `self update` replaces the installed binary with the release's newer one
/// (here: the same program with extra bytes appended, listed as 0.2.0 in a
/// re-signed manifest), only after checking its size and sha256.
#[test]
fn self_update_replaces_the_binary_with_a_newer_verified_one() {
    let server = HttpServer::serve(&release().dir);
    let mut sb = Sandbox::new(&server.url);
    let out = install_sh(&sb, "dash", None, &["-y", "--no-modify-path"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fastmusl = sb.fastmusl_home().join("bin/fastmusl");
    let same = sb
        .command(&fastmusl)
        .args(["self", "update"])
        .output()
        .unwrap();
    assert!(
        text(&same.stderr).contains("is up to date"),
        "{}",
        text(&same.stderr)
    );

    let copy = copy_of_release();
    let host = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    let mut newer = std::fs::read(&fastmusl).unwrap();
    newer.extend_from_slice(b"\n# fastmusl self update test\n");
    let name = format!("fastmusl-0.2.0-{host}");
    std::fs::write(copy.path().join(&name), &newer).unwrap();
    let sha256: String =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &newer))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    common::resign_manifest(copy.path(), |m| {
        m.release_timestamp += 60;
        let installer = m.installer.as_mut().unwrap();
        installer.version = "0.2.0".to_owned();
        let entry = installer.host.get_mut(&host).unwrap();
        entry.url = name.clone();
        entry.size = newer.len() as u64;
        entry.sha256 = sha256;
    });
    let newer_server = HttpServer::serve(copy.path());
    sb.dist_server = newer_server.url.clone();
    let update = sb
        .command(&fastmusl)
        .args(["self", "update"])
        .output()
        .unwrap();
    assert!(update.status.success(), "{}", text(&update.stderr));
    assert!(
        text(&update.stderr).contains("0.1.0 -> 0.2.0"),
        "{}",
        text(&update.stderr)
    );
    assert_eq!(std::fs::read(&fastmusl).unwrap(), newer);
    let version = sb.command(&fastmusl).arg("--version").output().unwrap();
    assert!(version.status.success(), "the updated binary does not run");
}

/// install.sh and the fastmusl binary apply one rule to plain http:// dist
/// servers (loopback only, as the binary parses hosts): each host below is
/// refused by both or by neither. Nothing listens on port 1, so an accepted
/// one fails at the download.
#[test]
fn install_sh_and_fastmusl_agree_on_which_http_servers_are_loopback() {
    let hosts = [
        ("127.0.0.1", true),
        ("127.8.9.10", true),
        ("localhost", true),
        ("LocalHost", true),
        ("[::1]", true),
        ("[0:0:0:0:0:0:0:1]", true),
        ("[::0:1]", true),
        ("[0::0001]", true),
        ("user@127.0.0.1", true),
        ("127.0.0.1.example.org", false),
        ("127.1", false),
        ("127.0.0.01", false),
        ("127.0.0.256", false),
        ("[::ffff:127.0.0.1]", false),
        ("[1::1]", false),
        ("[::00001]", false),
        ("[0:0:0:0:0:0:0:0:1]", false),
        ("localhost.example.org", false),
        ("127.0.0.1@example.org", false),
        ("10.0.0.1", false),
        ("example.org", false),
    ];
    let sb = Sandbox::new("http://127.0.0.1:1");
    let mut disagreements = Vec::new();
    for (host, loopback) in hosts {
        let url = format!("http://{host}:1/dist");
        let script = sb
            .command(absolute("dash"))
            .arg(release().dir.join("install.sh"))
            .args(["-y", "--no-modify-path"])
            .env("FASTMUSL_DIST_SERVER", &url)
            .output()
            .unwrap();
        let binary = sb
            .fastmusl_command(&["target", "list"])
            .env("FASTMUSL_DIST_SERVER", &url)
            .output()
            .unwrap();
        assert!(
            !script.status.success() && !binary.status.success(),
            "{url}"
        );
        let refused =
            |out: &std::process::Output| text(&out.stderr).contains("refusing plain http://");
        let (by_script, by_binary) = (!refused(&script), !refused(&binary));
        if (by_script, by_binary) != (loopback, loopback) {
            disagreements.push(format!(
                "{host}: expected loopback={loopback}, install.sh {by_script}, fastmusl {by_binary}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// install.sh follows rustup's choice of startup files: `.profile` always,
/// bash's own files only where they exist (here only `.bash_profile`, which
/// bash reads instead of `.profile`); `self uninstall` takes its line out
/// again, byte for byte, and removes the `.profile` it created.
#[test]
fn install_sh_writes_the_profiles_that_exist_and_uninstall_takes_them_back() {
    let server = HttpServer::serve(&release().dir);
    let sb = Sandbox::new(&server.url);
    let bash_profile = sb.home().join(".bash_profile");
    std::fs::write(&bash_profile, PROFILE).unwrap();
    let out = install_sh(&sb, "dash", None, &["-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for profile in [".bash_profile", ".profile"] {
        let text = std::fs::read_to_string(sb.home().join(profile)).unwrap();
        assert!(text.contains(".fastmusl/env"), "{profile}: {text}");
    }
    assert!(
        !sb.home().join(".bashrc").exists(),
        "install.sh created .bashrc"
    );

    let fastmusl = sb.fastmusl_home().join("bin/fastmusl");
    let uninstall = sb
        .command(&fastmusl)
        .args(["self", "uninstall", "-y"])
        .output()
        .unwrap();
    assert!(uninstall.status.success(), "{}", text(&uninstall.stderr));
    assert_eq!(std::fs::read_to_string(&bash_profile).unwrap(), PROFILE);
    assert!(!sb.home().join(".profile").exists());
    assert!(!sb.fastmusl_home().exists());
}

/// With FASTMUSL_HOME=$HOME, `self uninstall` must not take the home
/// directory with it: it refuses, names what is not fastmusl's, and changes
/// nothing (cargo stays wired, every file stays).
#[test]
fn self_uninstall_refuses_a_home_holding_what_is_not_fastmusls() {
    let server = HttpServer::serve(&release().dir);
    let sb = Sandbox::new(&server.url);
    let home = sb.home();
    std::fs::create_dir_all(home.join("keys")).unwrap();
    std::fs::copy(&release().public_key, home.join("keys/throwaway.pub")).unwrap();
    std::fs::create_dir_all(home.join("Documents")).unwrap();
    std::fs::write(home.join("Documents/thesis.tex"), "years of work\n").unwrap();
    std::fs::write(home.join(".profile"), PROFILE).unwrap();
    let fastmusl = |args: &[&str]| {
        sb.fastmusl_command(args)
            .env("FASTMUSL_HOME", &home)
            .output()
            .unwrap()
    };
    let add = fastmusl(&["target", "add", X86_64]);
    assert!(add.status.success(), "{}", text(&add.stderr));
    assert!(home.join("sysroots").is_dir());

    let before = common::snapshot(sb.dir.path());
    let out = fastmusl(&["self", "uninstall", "-y"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "uninstall went ahead in $HOME");
    for name in [".cargo", ".profile", "Documents"] {
        assert!(
            stderr.contains(&format!("\n  {name}")),
            "{name} not named:\n{stderr}"
        );
    }
    assert!(stderr.contains("Nothing was removed"), "{stderr}");
    assert_eq!(common::snapshot(sb.dir.path()), before);
}
