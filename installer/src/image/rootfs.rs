//! What a scratch image holds besides the program: the base layer (CA
//! bundle, the users, their directories, optionally time zones), the same
//! for every architecture so that registries store and pushes send it once,
//! and the application layer (one binary).

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::layer::Entries;

/// Where the image's CA bundle is, and what `SSL_CERT_FILE` names: the path
/// Debian, Alpine and Go's crypto/x509 all look at first.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";
const ZONEINFO: &str = "usr/share/zoneinfo";

/// The user the program runs as. distroless's `nonroot` (65532) by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl User {
    pub fn home(&self) -> String {
        if self.uid == 0 {
            "/root".to_owned()
        } else {
            format!("/home/{}", self.name)
        }
    }
}

impl Default for User {
    fn default() -> User {
        User {
            name: "nonroot".to_owned(),
            uid: 65532,
            gid: 65532,
        }
    }
}

impl std::str::FromStr for User {
    type Err = String;

    /// `NAME`, `NAME:UID` or `NAME:UID:GID` (GID defaults to UID); `root`
    /// alone means uid 0.
    fn from_str(s: &str) -> Result<User, String> {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default();
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && !name.starts_with('-');
        if !valid_name {
            return Err(format!(
                "`{name}` is not a user name (lowercase letters, digits, _ and -)"
            ));
        }
        let number = |field: Option<&str>, what: &str| -> Result<Option<u32>, String> {
            field
                .map(|f| {
                    f.parse::<u32>()
                        .map_err(|_| format!("`{f}` is not a {what} (a number)"))
                })
                .transpose()
        };
        let default_uid = if name == "root" { 0 } else { 65532 };
        let uid = number(parts.next(), "uid")?.unwrap_or(default_uid);
        let gid = number(parts.next(), "gid")?.unwrap_or(uid);
        if parts.next().is_some() {
            return Err(format!("`{s}`: expected NAME[:UID[:GID]]"));
        }
        if (name == "root") != (uid == 0) {
            return Err(format!("`{s}`: uid 0 is root, and root is uid 0"));
        }
        Ok(User {
            name: name.to_owned(),
            uid,
            gid,
        })
    }
}

/// Everything the base layer is made of.
#[derive(Debug, Clone)]
pub struct Base {
    pub user: User,
    /// The PEM bundle written to [`CA_BUNDLE_PATH`].
    pub ca_bundle: Vec<u8>,
    /// Copy the host's zoneinfo into `/usr/share/zoneinfo`.
    pub tzdata: Option<std::path::PathBuf>,
}

impl Base {
    pub fn entries(&self) -> Result<Entries> {
        let root = (0, 0);
        let mut entries = Entries::default();
        let user = &self.user;
        let mut passwd = "root:x:0:0:root:/root:/sbin/nologin\n".to_owned();
        let mut group = "root:x:0:\n".to_owned();
        if user.uid != 0 {
            passwd += &format!(
                "{name}:x:{uid}:{gid}:{name}:{home}:/sbin/nologin\n",
                name = user.name,
                uid = user.uid,
                gid = user.gid,
                home = user.home()
            );
            group += &format!("{}:x:{}:\n", user.name, user.gid);
            entries.dir(&user.home(), 0o700, (user.uid.into(), user.gid.into()));
        }
        entries.file("etc/passwd", 0o644, root, passwd.into_bytes());
        entries.file("etc/group", 0o644, root, group.into_bytes());
        entries.file(CA_BUNDLE_PATH, 0o644, root, self.ca_bundle.clone());
        entries.dir("root", 0o700, root);
        entries.dir("tmp", 0o1777, root);
        if let Some(zoneinfo) = &self.tzdata {
            add_tree(&mut entries, zoneinfo, ZONEINFO)?;
        }
        Ok(entries.with_parents())
    }
}

/// The application layer: the binary at `path` (absolute in the image).
pub fn app_entries(binary: Vec<u8>, path: &str) -> Entries {
    let mut entries = Entries::default();
    entries.file(path, 0o755, (0, 0), binary);
    entries.with_parents()
}

/// Copies a host directory tree (zoneinfo) under `at`: directories, regular
/// files as 0644, and symlinks as they are (zoneinfo links zones to each
/// other; following them could loop, as Debian's `posix -> .` would).
fn add_tree(entries: &mut Entries, dir: &Path, at: &str) -> Result<()> {
    entries.dir(at, 0o755, (0, 0));
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let Some(name) = child.file_name().to_str().map(str::to_owned) else {
            bail!("{}: a file name that is not UTF-8", child.path().display());
        };
        let path = child.path();
        let inside = format!("{at}/{name}");
        let kind = child.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            let target = target
                .to_str()
                .with_context(|| format!("{}: a link target that is not UTF-8", path.display()))?;
            entries.symlink(&inside, target.to_owned());
        } else if kind.is_dir() {
            add_tree(entries, &path, &inside)?;
        } else if kind.is_file() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            entries.file(&inside, 0o644, (0, 0), bytes);
        }
    }
    Ok(())
}

/// The `webpki-root-certs` release compiled in (checked against
/// Cargo.lock by a test), for the SBOM.
pub const MOZILLA_ROOTS_VERSION: &str = "1.0.11";

/// The tz database's release in a zoneinfo directory: the `# version`
/// line `zic` writes at the top of `tzdata.zi`, else `+VERSION`.
pub fn tzdata_version(zoneinfo: &Path) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(zoneinfo.join("tzdata.zi"))
        && let Some(version) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# version "))
    {
        return Some(version.trim().to_owned());
    }
    std::fs::read_to_string(zoneinfo.join("+VERSION"))
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Mozilla's root certificates (the `webpki-root-certs` crate) as PEM.
pub fn mozilla_roots_pem() -> Vec<u8> {
    let mut pem = Vec::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(&der_to_pem(cert.as_ref()));
    }
    pem
}

fn der_to_pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// Checks that a file holds PEM certificates, so that a wrong `--ca-file`
/// (a key, a DER file) is refused here rather than ignored by every TLS
/// client in the container.
pub fn check_pem_certificates(path: &Path, bytes: &[u8]) -> Result<()> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN CERTIFICATE-----"));
    if text.is_none() {
        bail!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); convert DER with \
             `openssl x509 -inform der -in FILE -out FILE.pem`",
            path.display()
        );
    }
    if text.is_some_and(|t| t.contains("PRIVATE KEY-----")) {
        bail!(
            "{} holds a private key: it does not belong in an image",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::EntryKind;

    #[test]
    fn users_parse_with_distroless_defaults() {
        assert_eq!("nonroot".parse::<User>().unwrap(), User::default());
        let app: User = "app:1000".parse().unwrap();
        assert_eq!(
            (app.uid, app.gid, app.home()),
            (1000, 1000, "/home/app".into())
        );
        let root: User = "root".parse().unwrap();
        assert_eq!((root.uid, root.gid, root.home()), (0, 0, "/root".into()));
        for bad in ["", "Nonroot", "app:x", "app:1:2:3", "root:5", "app:0", "-x"] {
            assert!(bad.parse::<User>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_mozilla_bundle_is_pem_and_a_key_is_refused() {
        let pem = mozilla_roots_pem();
        let count = String::from_utf8_lossy(&pem)
            .matches("BEGIN CERTIFICATE")
            .count();
        assert!(count > 100, "{count} roots");
        check_pem_certificates(Path::new("roots"), &pem).unwrap();
        assert!(check_pem_certificates(Path::new("k"), b"\x30\x82").is_err());
        let key = b"-----BEGIN CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n";
        assert!(check_pem_certificates(Path::new("k"), key).is_err());
    }

    #[test]
    fn zoneinfo_is_copied_with_its_links_as_links() {
        let zoneinfo = tempfile::tempdir().unwrap();
        let z = zoneinfo.path();
        std::fs::create_dir_all(z.join("Europe")).unwrap();
        std::fs::write(z.join("UTC"), b"TZif-utc").unwrap();
        std::fs::write(z.join("Europe/Berlin"), b"TZif-berlin").unwrap();
        std::os::unix::fs::symlink("../UTC", z.join("Europe/Zulu")).unwrap();
        // Debian's zoneinfo has `posix -> .`: followed, it would never end.
        std::os::unix::fs::symlink(".", z.join("posix")).unwrap();
        let base = Base {
            user: User::default(),
            ca_bundle: b"-----BEGIN CERTIFICATE-----\n".to_vec(),
            tzdata: Some(z.to_owned()),
        };
        let entries = base.entries().unwrap();
        let zone: Vec<(String, EntryKind)> = entries
            .iter()
            .filter(|(p, _)| p.starts_with("usr"))
            .map(|(p, e)| (p.clone(), e.kind.clone()))
            .collect();
        use EntryKind::*;
        assert_eq!(
            zone,
            [
                ("usr", Dir),
                ("usr/share", Dir),
                ("usr/share/zoneinfo", Dir),
                ("usr/share/zoneinfo/Europe", Dir),
                (
                    "usr/share/zoneinfo/Europe/Berlin",
                    File(b"TZif-berlin".to_vec())
                ),
                ("usr/share/zoneinfo/Europe/Zulu", Symlink("../UTC".into())),
                ("usr/share/zoneinfo/UTC", File(b"TZif-utc".to_vec())),
                ("usr/share/zoneinfo/posix", Symlink(".".into())),
            ]
            .map(|(p, k)| (p.to_owned(), k))
        );
    }

    #[test]
    fn the_mozilla_roots_version_is_the_one_in_cargo_lock() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let entry = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"webpki-root-certs\""))
            .unwrap();
        assert!(
            entry.contains(&format!("version = \"{MOZILLA_ROOTS_VERSION}\"")),
            "{entry}"
        );
    }
}
