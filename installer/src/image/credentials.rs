//! Registry credentials from where `docker login`, `podman login` and the CI
//! login actions leave them, in the order containers/image reads them:
//!
//! 1. `--creds USER:PASS`;
//! 2. `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`;
//! 3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//!
//! In a file, a `credHelpers` entry for the registry, then `credsStore`, are
//! asked first (by running `docker-credential-<helper> get`, as docker
//! does: that is how gcloud and ECR logins work), then its `auths` entry.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde::Deserialize;

/// `--creds`, as the commands that speak to a registry take it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredsArg {
    /// Registry credentials, instead of the auth files of docker/podman.
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "FASTMUSL_REGISTRY_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Where they came from, for messages ("--creds", a file, a helper).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} from {})", self.username, self.source)
    }
}

impl Credentials {
    /// `USER:PASS` (the password may hold colons).
    pub fn parse_pair(pair: &str, source: &str) -> Result<Credentials> {
        match pair.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Ok(Credentials {
                username: user.to_owned(),
                password: pass.to_owned(),
                source: source.to_owned(),
            }),
            _ => bail!("{source}: expected USER:PASSWORD"),
        }
    }

    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// The credentials for `registry` (`host[:port]`), if any place has them.
pub fn find(registry: &str, explicit: Option<&str>) -> Result<Option<Credentials>> {
    if let Some(pair) = explicit {
        return Credentials::parse_pair(pair, "--creds").map(Some);
    }
    for file in auth_files() {
        if let Some(found) = from_file(&file, registry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn auth_files() -> Vec<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    if let Some(file) = env("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(file));
    } else if let Some(dir) = env("XDG_RUNTIME_DIR") {
        files.push(Path::new(&dir).join("containers/auth.json"));
    }
    if let Some(dir) = env("DOCKER_CONFIG") {
        files.push(Path::new(&dir).join("config.json"));
    } else if let Some(home) = env("HOME") {
        files.push(Path::new(&home).join(".docker/config.json"));
    }
    files
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn from_file(file: &Path, registry: &str) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let parsed: AuthFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a registry auth file", file.display()))?;
    let source = file.display().to_string();
    let helper = parsed
        .cred_helpers
        .iter()
        .find(|(key, _)| same_registry(key, registry))
        .map(|(_, helper)| helper)
        .or(parsed.creds_store.as_ref());
    if let Some(helper) = helper
        && let Some(found) = from_helper(helper, registry, &source)?
    {
        return Ok(Some(found));
    }
    let Some(entry) = parsed
        .auths
        .iter()
        .find(|(key, _)| same_registry(key, registry))
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    if let (Some(user), Some(pass)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: user.clone(),
            password: pass.clone(),
            source,
        }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .with_context(|| {
            format!("{source}: the `auth` of {registry} is not base64 of USER:PASS")
        })?;
    Credentials::parse_pair(&decoded, &source).map(Some)
}

/// Runs `docker-credential-<helper> get`, which reads the server on stdin
/// and prints `{"Username": ..., "Secret": ...}`.
fn from_helper(helper: &str, registry: &str, file: &str) -> Result<Option<Credentials>> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let program = format!("docker-credential-{helper}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{file} names the credential helper `{program}`, which is not on PATH")
        }
        Err(e) => return Err(e).with_context(|| format!("running {program}")),
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(registry.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        // Helpers say "credentials not found in native keychain" and fail.
        return Ok(None);
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{program} get: unexpected output"))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
        source: format!("{program} (named in {file})"),
    }))
}

/// Whether an auth file's key names `registry`: keys are written as
/// `host[:port]`, sometimes with a scheme or path (`https://index.docker.io/v1/`).
fn same_registry(key: &str, registry: &str) -> bool {
    fn normalize(s: &str) -> &str {
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let host = s.split('/').next().unwrap_or(s);
        match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            other => other,
        }
    }
    normalize(key) == normalize(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_files_entries_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(
            &file,
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOnMzY3I6ZXQ="},
                "127.0.0.1:5000": {"username": "u", "password": "p"},
                "ghcr.io": {}
            }}"#,
        )
        .unwrap();
        let hub = from_file(&file, "docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "s3cr:et")
        );
        let local = from_file(&file, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(local.password, "p");
        assert!(from_file(&file, "ghcr.io").unwrap().is_none());
        assert!(from_file(&file, "quay.io").unwrap().is_none());
        assert!(
            from_file(&dir.path().join("none.json"), "x")
                .unwrap()
                .is_none()
        );

        std::fs::write(&file, "{not json").unwrap();
        let err = format!("{:#}", from_file(&file, "x").unwrap_err());
        assert!(err.contains("not a registry auth file"), "{err}");

        std::fs::write(
            &file,
            r#"{"credHelpers": {"eu.gcr.io": "fastmusl-test-none"}}"#,
        )
        .unwrap();
        let err = format!("{:#}", from_file(&file, "eu.gcr.io").unwrap_err());
        assert!(
            err.contains("docker-credential-fastmusl-test-none"),
            "{err}"
        );
        assert!(from_file(&file, "other.io").unwrap().is_none());
    }

    #[test]
    fn explicit_creds_come_first_and_keep_colons() {
        let c = find("x.io", Some("me:a:b")).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "a:b"));
        assert!(find("x.io", Some("nocolon")).is_err());
        assert!(
            !format!("{c:?}").contains("a:b"),
            "Debug must not print secrets"
        );
    }
}
