//! Real container peers on loopback for the image tests: `docker-registry`
//! (distribution 2.8) started per test, optionally with token auth against
//! a token service here (JWTs signed by `openssl`, verified by the
//! registry against the test's certificate, as Docker Hub's flow works),
//! a test PKI made with `openssl`, and `skopeo`, `umoci`, `runc` helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::text;

/// Runs a command and requires success, with its output in the message.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} starts: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, log: &Path) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `docker-registry serve` on 127.0.0.1 with filesystem storage.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    pub host: String,
}

impl Registry {
    /// A registry; `extra` is appended to its config.yml (auth, read-only).
    pub fn start(extra: &str) -> Registry {
        Self::start_with(extra, "")
    }

    /// A registry that speaks only HTTPS, with the PKI's server certificate
    /// (for 127.0.0.1).
    pub fn start_tls(pki: &Pki) -> Registry {
        let d = pki.dir.path();
        Self::start_with(
            "",
            &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.pem").display(),
                d.join("server.key").display()
            ),
        )
    }

    fn start_with(extra: &str, http_extra: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n{extra}\nhttp:\n  addr: 127.0.0.1:{port}\n{http_extra}",
            dir.path().join("data").display()
        );
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = dir.path().join("log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("docker-registry runs (apt-get install docker-registry)");
        wait_for_port(port, &mut child, &dir.path().join("stderr"));
        Registry {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
        }
    }

    /// The blobs the registry stores (by digest), from its storage.
    pub fn stored_blobs(&self) -> Vec<String> {
        let root = self.dir.path().join("data/docker/registry/v2/blobs/sha256");
        let mut found = Vec::new();
        for prefix in std::fs::read_dir(&root).into_iter().flatten() {
            for blob in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
                found.push(format!(
                    "sha256:{}",
                    blob.unwrap().file_name().to_string_lossy()
                ));
            }
        }
        found.sort();
        found
    }

    /// The tags of `repository`, read from the registry's storage.
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let dir = self
            .dir
            .path()
            .join("data/docker/registry/v2/repositories")
            .join(repository)
            .join("_manifests/tags");
        let mut tags: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        tags.sort();
        tags
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test PKI: a CA, and a server certificate for `localhost`/127.0.0.1
/// signed by it.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run_ok(
            Command::new("openssl")
                .current_dir(d)
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
                .args(["-subj", "/CN=fastmusl test CA"]),
        );
        run_ok(
            Command::new("openssl")
                .current_dir(d)
                .args(["req", "-newkey", "rsa:2048", "-nodes"])
                .args(["-keyout", "server.key", "-out", "server.csr"])
                .args(["-subj", "/CN=localhost"]),
        );
        std::fs::write(d.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        run_ok(
            Command::new("openssl")
                .current_dir(d)
                .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem"])
                .args(["-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem"])
                .args(["-days", "2", "-extfile", "ext"]),
        );
        Pki { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// `openssl s_server -www` on 127.0.0.1 with the PKI's server certificate.
pub struct TlsServer {
    child: Child,
    pub port: u16,
}

impl TlsServer {
    pub fn start(pki: &Pki) -> TlsServer {
        let port = free_port();
        let log = pki.dir.path().join(format!("s_server-{port}.log"));
        let mut child = Command::new("openssl")
            .current_dir(pki.dir.path())
            .args(["s_server", "-quiet", "-www"])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", "server.pem", "-key", "server.key"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("openssl runs");
        wait_for_port(port, &mut child, &log);
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry with token auth, and the token service it trusts: the
/// service checks HTTP Basic credentials and signs a JWT (RS256, its
/// certificate in `x5c`) granting what the `scope` asks.
pub struct TokenRegistry {
    pub registry: Registry,
    _keys: tempfile::TempDir,
}

impl TokenRegistry {
    pub fn start(user: &str, password: &str) -> TokenRegistry {
        let keys = tempfile::tempdir().unwrap();
        run_ok(
            Command::new("openssl")
                .current_dir(keys.path())
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args(["-keyout", "token.key", "-out", "token.pem", "-days", "2"])
                .args(["-subj", "/CN=fastmusl test token issuer"]),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let issuer = TokenIssuer {
            key: keys.path().join("token.key"),
            cert_der_b64: pem_body(&keys.path().join("token.pem")),
            expected: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                issuer.answer(stream);
            }
        });
        let registry = Registry::start(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: fastmusl-test\n    issuer: fastmusl-test-issuer\n    rootcertbundle: {}\n",
            keys.path().join("token.pem").display()
        ));
        TokenRegistry {
            registry,
            _keys: keys,
        }
    }
}

struct TokenIssuer {
    key: PathBuf,
    cert_der_b64: String,
    expected: String,
}

impl TokenIssuer {
    fn answer(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_owned());
            }
        }
        let (status, body) = if authorization.as_deref() == Some(self.expected.as_str()) {
            let scope = query_param(&request_line, "scope").unwrap_or_default();
            ("200 OK", format!(r#"{{"token":"{}"}}"#, self.token(&scope)))
        } else {
            (
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong user name or password"}]}"#
                    .to_owned(),
            )
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn token(&self, scope: &str) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        // "repository:NAME:pull,push"
        let mut parts = scope.splitn(3, ':');
        let (kind, name, actions) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [self.cert_der_b64]});
        let claims = serde_json::json!({
            "iss": "fastmusl-test-issuer",
            "sub": "tester",
            "aud": "fastmusl-test",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{now}-{}", std::process::id()),
            "access": [{"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
        });
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        openssl
            .stdin
            .take()
            .unwrap()
            .write_all(signed.as_bytes())
            .unwrap();
        let mut signature = Vec::new();
        openssl
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut signature)
            .unwrap();
        assert!(openssl.wait().unwrap().success());
        format!("{signed}.{}", b64(&signature))
    }
}

fn pem_body(pem: &Path) -> String {
    std::fs::read_to_string(pem)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// A query parameter of a request line, percent-decoded.
fn query_param(request_line: &str, name: &str) -> Option<String> {
    let target = request_line.split_whitespace().nth(1)?;
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `skopeo ARGS`'s JSON answer.
pub fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let out = run_ok(Command::new("skopeo").args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An image index's manifests as (`os/architecture[/variant]`, digest).
pub fn index_platforms(index: &serde_json::Value) -> Vec<(String, String)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"]
                .as_str()
                .map(|v| format!("/{v}"))
                .unwrap_or_default();
            (
                format!(
                    "{}/{}{variant}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A path as the `&str` an argument list takes.
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `umoci unpack` of `layout:tag` into a runc bundle whose process uses
/// the host's network (to reach loopback servers) and no terminal.
pub fn unpack_bundle(layout: &Path, tag: &str, bundle: &Path) {
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(bundle),
    );
    let config_file = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "network");
    std::fs::write(&config_file, config.to_string()).unwrap();
}

/// `runc run` of a bundle; its output.
pub fn runc_run(bundle: &Path) -> Output {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = format!(
        "fastmusl-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    Command::new("runc")
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .expect("runc runs (apt-get install runc)")
}
