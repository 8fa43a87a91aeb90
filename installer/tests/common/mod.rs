//! Shared fixtures of the installer's end-to-end tests:
//!
//! - a release directory made by the real pipeline (`xtask::dist`) from the
//!   cached sysroots, signed with a throwaway key (made once per process);
//! - a real HTTP server on 127.0.0.1 (`python3 -m http.server`) serving a
//!   directory;
//! - a sandbox: a temporary HOME with its own CARGO_HOME and FASTMUSL_HOME
//!   (trusting the throwaway key), in which `fastmusl` and `cargo` run.
#![allow(dead_code)] // each test binary uses a different part

pub mod containers;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    time::Duration,
};

use fastmusl_dist::rust_std::StdSource;
use xtask::{
    default_sysroot_root,
    dist::{DistRequest, InstallerBuild, run},
    platforms::PlatformTable,
    project_root,
    signing::generate_keypair,
    sysroot::{SysrootRequest, build_or_reuse},
};

/// The two first targets, for tests of paths that need one or two
/// (the heavy end-to-end ones run on x86_64 only).
pub const X86_64: &str = "x86_64-unknown-linux-musl";
pub const AARCH64: &str = "aarch64-unknown-linux-musl";

/// The targets under test: every row of `sysroots/targets.toml`, or the
/// ones `FASTMUSL_TEST_TARGETS` names.
pub fn targets() -> Vec<String> {
    xtask::platforms::PlatformTable::triples_under_test()
}

/// The target whose `fastmusl` binary runs here, the one installer the test
/// release ships (`cargo xtask dist` ships one per installer host).
pub fn test_host() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// What the release holds: the targets under test, and always the two
/// first (the tests of installing, updating and images use them).
pub fn release_targets() -> Vec<String> {
    let mut all = targets();
    for t in [X86_64, AARCH64] {
        if !all.iter().any(|x| x == t) {
            all.push(t.to_owned());
        }
    }
    all
}

pub struct Release {
    pub dir: PathBuf,
    pub public_key: PathBuf,
    pub secret_key: PathBuf,
}

/// The release directory, made once per test process.
pub fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let mirror = std::env::var_os("FASTMUSL_MIRROR")
            .map(PathBuf::from)
            .unwrap_or_else(|| project_root().join("../shared/mirror"));
        let targets = release_targets();
        for triple in &targets {
            build_or_reuse(&SysrootRequest {
                triple: triple.parse().unwrap(),
                mirror: Some(mirror.clone()),
                out_root: default_sysroot_root(),
                extra_flavors: Vec::new(),
            })
            .unwrap_or_else(|e| panic!("building the {triple} sysroot: {e:#}"));
        }
        let root = tempfile::tempdir().unwrap().keep();
        let (public_key, secret_key) = generate_keypair(&root.join("keys"), "throwaway").unwrap();
        let dir = root.join("release");
        run(&DistRequest {
            targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
            out: dir.clone(),
            sign_key: Some(secret_key.clone()),
            sysroot_root: default_sysroot_root(),
            mirror: Some(mirror),
            channel: "stable".to_owned(),
            with_installer: true,
            // This host's installer only: the tests run install.sh here.
            installer_build: InstallerBuild {
                only_hosts: Some(vec![test_host().parse().unwrap()]),
                ..Default::default()
            },
            dist_server: "http://127.0.0.1:1".to_owned(),
            compression_cache: Some(xtask::project_root().join("target/dist-cache")),
        })
        .unwrap();
        Release {
            dir,
            public_key,
            secret_key,
        }
    })
}

/// Copies the release directory (to tamper with the copy).
pub fn copy_of_release() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&release().dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    copy
}

/// Python's `http.server` on 127.0.0.1, on a port the OS picks; over
/// HTTPS with a test PKI's server certificate if one is given.
pub struct HttpServer {
    child: Child,
    pub url: String,
}

impl HttpServer {
    pub fn serve(dir: &Path) -> HttpServer {
        Self::start(dir, None)
    }

    /// The same over HTTPS, with `pki`'s server certificate (127.0.0.1):
    /// a dist server behind a private CA.
    pub fn serve_tls(dir: &Path, pki: &containers::Pki) -> HttpServer {
        Self::start(dir, Some(pki))
    }

    fn start(dir: &Path, pki: Option<&containers::Pki>) -> HttpServer {
        const SERVER: &str = "import functools, http.server, ssl, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
if len(sys.argv) > 2:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
";
        let mut command = Command::new("python3");
        command.args(["-c", SERVER]).arg(dir);
        if let Some(pki) = pki {
            command
                .arg(pki.dir.path().join("server.pem"))
                .arg(pki.dir.path().join("server.key"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("{line}"));
        let scheme = if pki.is_some() { "https" } else { "http" };
        HttpServer {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary HOME in which fastmusl and cargo run.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub dist_server: String,
}

impl Sandbox {
    pub fn new(dist_server: &str) -> Sandbox {
        Self::new_in(dist_server, tempfile::tempdir().unwrap())
    }

    /// A sandbox in `dir`: for one that lives as long as the test process
    /// (in a `static`, never dropped), a directory under cargo's
    /// `CARGO_TARGET_TMPDIR` rather than `/tmp`, so `cargo clean` takes it.
    pub fn new_in(dist_server: &str, dir: tempfile::TempDir) -> Sandbox {
        let sandbox = Sandbox {
            dir,
            dist_server: dist_server.to_owned(),
        };
        std::fs::create_dir_all(sandbox.cargo_home()).unwrap();
        share_package_cache(&sandbox.cargo_home());
        let keys = sandbox.fastmusl_home().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::copy(&release().public_key, keys.join("throwaway.pub")).unwrap();
        sandbox
    }

    /// A sandbox that lives as long as the test process, with `targets`
    /// installed from the release, and the server that served them.
    pub fn with_targets(targets: &[&str]) -> (Sandbox, HttpServer) {
        let server = HttpServer::serve(&release().dir);
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let sandbox = Sandbox::new_in(&server.url, dir);
        let mut args = vec!["target", "add"];
        args.extend(targets);
        sandbox.fastmusl_ok(&args);
        (sandbox, server)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn cargo_home(&self) -> PathBuf {
        self.home().join(".cargo")
    }

    pub fn fastmusl_home(&self) -> PathBuf {
        self.home().join(".fastmusl")
    }

    pub fn cargo_config(&self) -> PathBuf {
        self.cargo_home().join("config.toml")
    }

    fn env(&self, cmd: &mut Command) {
        let rustup_home = std::env::var_os("RUSTUP_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup"));
        cmd.env("HOME", self.home())
            .env("CARGO_HOME", self.cargo_home())
            .env("FASTMUSL_HOME", self.fastmusl_home())
            .env("FASTMUSL_DIST_SERVER", &self.dist_server)
            .env("RUSTUP_HOME", rustup_home)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET");
    }

    /// `program` with the sandbox's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.env(&mut cmd);
        cmd
    }

    pub fn fastmusl_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fastmusl"));
        cmd.args(args);
        cmd
    }

    /// `fastmusl image ARGS`, with no registry credentials or
    /// `SOURCE_DATE_EPOCH` from the machine running the tests.
    pub fn image_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.fastmusl_command(&["image"]);
        cmd.args(args)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DOCKER_CONFIG")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("FASTMUSL_REGISTRY_CREDS");
        cmd
    }

    pub fn fastmusl(&self, args: &[&str]) -> Output {
        self.fastmusl_command(args).output().unwrap()
    }

    /// Runs fastmusl and requires success.
    pub fn fastmusl_ok(&self, args: &[&str]) -> Output {
        let out = self.fastmusl(args);
        assert!(
            out.status.success(),
            "fastmusl {args:?} failed:\n{}",
            text(&out.stderr)
        );
        out
    }

    /// Plain `cargo <args>` in `dir`, nothing but the sandbox's environment.
    /// `cargo ARGS` in `dir`; for a `--target` without rustup's rust-std
    /// here, as `cargo +NIGHTLY ARGS -Zbuild-std` with the table's pinned nightly.
    pub fn cargo(&self, dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let target = args
            .iter()
            .position(|a| *a == "--target")
            .and_then(|i| args.get(i + 1));
        let std = target.map_or(StdSource::Prebuilt, |t| {
            let pinned = PlatformTable::project().unwrap().common.build_std_toolchain;
            StdSource::for_target(t, &pinned)
        });
        let mut cmd = std.cargo(args);
        cmd.current_dir(dir);
        self.env(&mut cmd);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// A copy of the fixture crate `name` (from xtask/fixtures) to build here.
    pub fn project(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join("projects").join(name);
        copy_dir(&project_root().join("xtask/fixtures").join(name), &dest);
        dest
    }
}

/// Links the sandbox's crates.io cache (index, downloaded and unpacked
/// crates), cargo's locks on it and its record of use (which its garbage
/// collection reads) to those of the CARGO_HOME the tests run
/// under, so each crate is fetched once per machine rather than once per
/// sandbox, and cargos in parallel sandboxes take the same locks. What
/// fastmusl reads and writes there (config.toml) stays the sandbox's own.
fn share_package_cache(cargo_home: &Path) {
    let shared = match std::env::var_os("CARGO_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cargo"),
    };
    std::fs::create_dir_all(shared.join("registry")).unwrap();
    // Empty files are what cargo creates, and an empty SQLite database.
    for lock in [".package-cache", ".package-cache-mutate", ".global-cache"] {
        let path = shared.join(lock);
        if !path.exists() {
            std::fs::File::create(&path).unwrap();
        }
    }
    for name in [
        "registry",
        ".package-cache",
        ".package-cache-mutate",
        ".global-cache",
    ] {
        std::os::unix::fs::symlink(shared.join(name), cargo_home.join(name)).unwrap();
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir` (relative paths), to show nothing was left behind.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub const SLOW: Duration = Duration::from_secs(600);

/// Rewrites the channel manifest in `dir` with `edit` and signs it again
/// with the throwaway key, as a release step would.
pub fn resign_manifest(
    dir: &Path,
    edit: impl FnOnce(&mut fastmusl_dist::channel::ChannelManifest),
) {
    use fastmusl_dist::{channel::ChannelManifest, signature::TrustedComment};
    let path = dir.join("channel-stable.toml");
    let mut manifest = ChannelManifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    let text = manifest.to_toml();
    let signer = xtask::signing::ReleaseSigner::from_file(&release().secret_key).unwrap();
    let timestamp = manifest.release_timestamp.to_string();
    let comment = TrustedComment::format(&[
        ("file", "channel-stable.toml"),
        ("version", &manifest.sysroot.version),
        ("timestamp", &timestamp),
    ]);
    std::fs::write(&path, &text).unwrap();
    std::fs::write(
        dir.join("channel-stable.toml.minisig"),
        signer.sign(text.as_bytes(), &comment).unwrap(),
    )
    .unwrap();
}

/// Runs `project`'s native (x86_64) binary `name` from `profile` with
/// mimalloc's verbose output on, and requires mimalloc's banner.
pub fn assert_native_binary_uses_mimalloc(project: &Path, name: &str, profile: &str) {
    let exe = project.join("target").join(X86_64).join(profile).join(name);
    let ran = Command::new(&exe)
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}: {}",
        exe.display(),
        text(&ran.stderr)
    );
    assert!(
        xtask::fixture::mimalloc_banner(&text(&ran.stderr)).is_some(),
        "{} did not run with fastmusl's mimalloc:\n{}",
        exe.display(),
        text(&ran.stderr)
    );
}

/// No unpacking debris (`.partial-*`, `.old-*`) under the sysroots.
pub fn assert_no_debris(fastmusl_home: &Path) {
    let files = tree(&fastmusl_home.join("sysroots"));
    assert!(
        !files
            .iter()
            .any(|p| p.contains(".partial-") || p.contains(".old-")),
        "debris: {files:?}"
    );
}

/// The sysroot version the test release carries.
pub fn release_version() -> String {
    let path = release().dir.join("channel-stable.toml");
    fastmusl_dist::channel::ChannelManifest::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .sysroot
        .version
}

/// The release's version with the next revision (`…-r2` -> `…-r3`).
pub fn newer_version() -> String {
    let version = release_version();
    let (base, revision) = version.rsplit_once("-r").unwrap();
    format!("{base}-r{}", revision.parse::<u32>().unwrap() + 1)
}

/// The directory every entry of `version`'s archive for `triple` lives under.
pub fn archive_top(version: &str, triple: &str) -> String {
    fastmusl_dist::channel::sysroot_artifact_name(version, fastmusl_dist::flavor::DEFAULT, triple)
        .trim_end_matches(".tar.zst")
        .to_owned()
}

/// A copy of the release that offers `archive` (entries under
/// `archive_top(&newer_version(), X86_64)`) as the only sysroot of a
/// newer release: later timestamp, true size and hash, re-signed.
pub fn newer_release_offering(archive: &[u8]) -> tempfile::TempDir {
    let copy = copy_of_release();
    let name = fastmusl_dist::channel::sysroot_artifact_name(
        &newer_version(),
        fastmusl_dist::flavor::DEFAULT,
        X86_64,
    );
    std::fs::write(copy.path().join(&name), archive).unwrap();
    let sha256 = xtask::tree_hash::sha256_hex(archive);
    resign_manifest(copy.path(), |m| {
        m.release_timestamp += 86_400;
        m.sysroot.version = newer_version();
        m.sysroot.target.retain(|t, _| t == X86_64);
        m.sysroot.flavor.clear();
        let artifact = &mut m.sysroot.target.get_mut(X86_64).unwrap().artifact;
        artifact.url = name;
        artifact.size = archive.len() as u64;
        artifact.sha256 = sha256;
    });
    copy
}

/// Every path under `dir` with the sha256 of its content (files), its
/// target (symlinks) or nothing (directories): equal snapshots mean
/// nothing under `dir` was written, added or removed.
pub fn snapshot(dir: &Path) -> Vec<(String, String)> {
    tree(dir)
        .into_iter()
        .map(|rel| {
            let path = dir.join(&rel);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_file() {
                xtask::tree_hash::sha256_hex(&std::fs::read(&path).unwrap())
            } else {
                "dir".to_owned()
            };
            (rel, what)
        })
        .collect()
}

/// How `MisbehavingServer` answers a request for its victim file.
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Accepts the connection, never answers.
    Silent,
    /// The headers with the true length, half the body, then silence with
    /// the connection kept open.
    StopsHalfway,
    /// The headers, then one byte every 100 ms.
    Trickles,
    /// No length; 4 KiB every 100 ms forever: fast enough for any speed
    /// rule, never finished.
    NeverEnds,
    /// No length; bytes as fast as the connection takes them, forever.
    Floods,
    /// The true length, other bytes.
    SwapsBytes,
}

/// An HTTP/1.1 server on 127.0.0.1 serving the files of a directory,
/// except that requests for `victim` get `misbehaviour`. Threads end with
/// the test process.
pub struct MisbehavingServer {
    pub url: String,
}

impl MisbehavingServer {
    pub fn serve(dir: &Path, victim: &str, misbehaviour: Misbehaviour) -> MisbehavingServer {
        use std::{io::Write, net::TcpListener};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (dir, victim) = (dir.to_path_buf(), victim.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (dir, victim) = (dir.clone(), victim.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request = String::new();
                    let _ = reader.read_line(&mut request);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) <= 2 {
                            break;
                        }
                    }
                    let name = request
                        .split(' ')
                        .nth(1)
                        .unwrap_or("/")
                        .trim_start_matches('/');
                    let Ok(body) = std::fs::read(dir.join(name)) else {
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                        return;
                    };
                    let head = |len: Option<usize>| match len {
                        Some(n) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
                        ),
                        None => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned(),
                    };
                    let pause = Duration::from_millis(100);
                    let _ = match (name == victim).then_some(misbehaviour) {
                        None => stream
                            .write_all(head(Some(body.len())).as_bytes())
                            .and_then(|_| stream.write_all(&body)),
                        Some(Misbehaviour::Silent) => {
                            std::thread::sleep(Duration::from_secs(3600));
                            Ok(())
                        }
                        Some(Misbehaviour::StopsHalfway) => stream
                            .write_all(head(Some(body.len())).as_bytes())
                            .and_then(|_| stream.write_all(&body[..body.len() / 2]))
                            .map(|_| std::thread::sleep(Duration::from_secs(3600))),
                        Some(Misbehaviour::Trickles) => stream
                            .write_all(head(Some(body.len())).as_bytes())
                            .and_then(|_| {
                                body.iter().try_for_each(|b| {
                                    std::thread::sleep(pause);
                                    stream.write_all(&[*b])
                                })
                            }),
                        Some(Misbehaviour::NeverEnds) => {
                            stream.write_all(head(None).as_bytes()).and_then(|_| {
                                loop {
                                    std::thread::sleep(pause);
                                    stream.write_all(&[b'x'; 4096])?;
                                }
                            })
                        }
                        Some(Misbehaviour::Floods) => {
                            stream.write_all(head(None).as_bytes()).and_then(|_| {
                                loop {
                                    stream.write_all(&[b'x'; 64 * 1024])?;
                                }
                            })
                        }
                        Some(Misbehaviour::SwapsBytes) => {
                            let mut other = body.clone();
                            let middle = other.len() / 2;
                            other[middle] ^= 0xff;
                            stream
                                .write_all(head(Some(other.len())).as_bytes())
                                .and_then(|_| stream.write_all(&other))
                        }
                    };
                });
            }
        });
        MisbehavingServer { url }
    }
}
