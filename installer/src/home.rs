//! Where fastmusl keeps things (`$FASTMUSL_HOME`, default `~/.fastmusl`) and
//! what it remembers between runs (`state.toml`).
//!
//! ```text
//! $FASTMUSL_HOME/
//!   sysroots/<version>/<triple>/   installed sysroots, side by side (the
//!   sysroots/<version>/<flavor>/<triple>/   default flavor, and the others)
//!   cargo-config.toml              the cargo config fastmusl owns (included)
//!   state.toml                     accepted manifest, installed targets, wiring
//!   lock                           serialises concurrent invocations
//!   keys/*.pub                     extra trusted release keys (optional)
//!   bin/fastmusl, env              the binary and PATH setup (install.sh)
//! ```

use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use fastmusl_dist::flavor;

pub const HOME_ENV: &str = "FASTMUSL_HOME";

#[derive(Debug, Clone)]
pub struct FastmuslHome {
    pub root: PathBuf,
}

impl FastmuslHome {
    /// `$FASTMUSL_HOME`, else `$HOME/.fastmusl`.
    pub fn from_env() -> Result<FastmuslHome> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(FastmuslHome {
                root: absolute(PathBuf::from(dir))?,
            });
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .context("neither FASTMUSL_HOME nor HOME is set; set FASTMUSL_HOME to where fastmusl may keep its files")?;
        Ok(FastmuslHome {
            root: PathBuf::from(home).join(".fastmusl"),
        })
    }

    pub fn sysroots(&self) -> PathBuf {
        self.root.join("sysroots")
    }

    /// Where `installed` of `triple` lives.
    pub fn sysroot(&self, triple: &str, installed: &Installed) -> PathBuf {
        flavor::sysroot_dir(
            &self.sysroots().join(&installed.version),
            &installed.flavor,
            triple,
        )
    }

    /// Removes the sysroot `installed` of `triple`, then the directories
    /// above it that are left empty.
    pub fn remove_sysroot(&self, triple: &str, installed: &Installed) -> Result<()> {
        let dir = self.sysroot(triple, installed);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        // `<version>/` for the default flavor, `<version>/<flavor>/` then
        // `<version>/` for another; each only if left empty.
        for parent in dir.ancestors().skip(1) {
            if parent == self.sysroots() || std::fs::remove_dir(parent).is_err() {
                break;
            }
        }
        Ok(())
    }

    pub fn owned_cargo_config(&self) -> PathBuf {
        self.root.join("cargo-config.toml")
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.toml")
    }

    /// Where the last verified channel manifest is kept
    /// (`manifest::LastVerified`).
    pub fn channel_cache(&self) -> PathBuf {
        self.root.join("channel")
    }

    /// What fastmusl makes in its home; nothing else is ever removed.
    pub const OWNED: [&str; 8] = [
        "sysroots",
        "cargo-config.toml",
        "state.toml",
        "lock",
        "keys",
        "bin/fastmusl",
        "env",
        "channel",
    ];

    /// Entries of the home that fastmusl did not make (relative paths): a
    /// name outside `OWNED`, anything in `bin/` but fastmusl (and its
    /// staged update), anything in `keys/` but `*.pub`. Leftovers of
    /// fastmusl's own atomic writes count as its own.
    pub fn foreign_entries(&self) -> Result<Vec<PathBuf>> {
        let mut foreign = Vec::new();
        for (dir, allowed) in [
            ("", &Self::OWNED[..]),
            ("bin", &["fastmusl", ".fastmusl.update"][..]),
        ] {
            for name in list_dir(&self.root.join(dir))? {
                let ours = allowed
                    .iter()
                    .any(|a| *a == name || *a == format!("{name}/fastmusl"))
                    || is_atomic_write_leftover(&name);
                if !ours {
                    foreign.push(Path::new(dir).join(&name));
                }
            }
        }
        for name in list_dir(&self.root.join("keys"))? {
            if !name.ends_with(".pub") {
                foreign.push(Path::new("keys").join(name));
            }
        }
        foreign.sort();
        Ok(foreign)
    }

    /// Removes what `OWNED` names (and leftovers of atomic writes), then
    /// `bin/` and the home itself if they are left empty.
    pub fn remove_owned_entries(&self) -> Result<()> {
        let remove = |path: &Path| -> Result<()> {
            let result = match std::fs::symlink_metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
                _ => std::fs::remove_file(path),
            };
            result.with_context(|| format!("removing {}", path.display()))
        };
        for name in list_dir(&self.root)? {
            if is_atomic_write_leftover(&name) {
                remove(&self.root.join(name))?;
            }
        }
        for entry in Self::OWNED.iter().chain(&["bin/.fastmusl.update"]) {
            remove(&self.root.join(entry))?;
        }
        for dir in [self.root.join("bin"), self.root.clone()] {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("removing {}", dir.display()));
                }
            }
        }
        Ok(())
    }

    /// Takes the home's lock, waiting for another fastmusl to finish.
    pub fn lock(&self) -> Result<HomeLock> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let path = self.root.join("lock");
        let file = File::create(&path).with_context(|| format!("opening {}", path.display()))?;
        if file.try_lock().is_err() {
            eprintln!(
                "info: waiting for another fastmusl to finish (lock: {})",
                path.display()
            );
            file.lock().context("waiting for the fastmusl lock")?;
        }
        Ok(HomeLock { _file: file })
    }
}

/// Held while fastmusl changes anything; released on drop.
pub struct HomeLock {
    _file: File,
}

/// `.state.toml.fastmusl-PID` and the like: what `write_atomic` leaves if
/// killed between writing and renaming.
fn is_atomic_write_leftover(name: &str) -> bool {
    ["state.toml", "cargo-config.toml"].iter().any(|file| {
        name.strip_prefix(&format!(".{file}.fastmusl-"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Names in `dir`; none if it does not exist.
fn list_dir(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(entries) => entries
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect(),
    }
}

fn absolute(path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path)
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// What fastmusl remembers; written atomically after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallState {
    /// Release timestamp of the newest channel manifest accepted; older
    /// manifests are refused (rollback) unless explicitly allowed.
    pub accepted_release_timestamp: u64,
    /// The installed sysroot per target triple.
    pub targets: BTreeMap<String, Installed>,
    /// Cargo config files fastmusl has changed, and how to undo it.
    pub wirings: Vec<Wiring>,
}

/// One target's installed sysroot: from which release, in which flavor.
///
/// `state.toml` keeps a default-flavor sysroot as its version string alone,
/// as fastmusl did before flavors, and another as `{ version, flavor }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub flavor: String,
}

impl Installed {
    pub fn new(version: &str, flavor: &str) -> Installed {
        Installed {
            version: version.to_owned(),
            flavor: flavor.to_owned(),
        }
    }
}

impl std::fmt::Display for Installed {
    /// `V`, or `V, FLAVOR` for a flavor other than the default.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.flavor == flavor::DEFAULT {
            f.write_str(&self.version)
        } else {
            write!(f, "{}, {}", self.version, self.flavor)
        }
    }
}

/// One cargo config file fastmusl edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    pub config: PathBuf,
    /// The file's bytes before fastmusl's first change; `None` if fastmusl
    /// created it.
    pub original: Option<String>,
    /// The bytes fastmusl last wrote. If the file still holds them, undoing
    /// restores `original` byte for byte.
    pub written: String,
    /// The user's keys that `--force` let fastmusl's settings replace.
    pub forced: Vec<String>,
}

impl InstallState {
    pub fn load(home: &FastmuslHome) -> Result<InstallState> {
        let path = home.state_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(InstallState::default());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text)
            .with_context(|| format!("{} is damaged; remove it to start over", path.display()))
    }

    fn parse(text: &str) -> Result<InstallState> {
        let doc: toml_edit::DocumentMut = text.parse()?;
        let mut state = InstallState::default();
        if let Some(t) = doc.get("accepted-release-timestamp") {
            state.accepted_release_timestamp = t
                .as_integer()
                .context("accepted-release-timestamp is not an integer")?
                as u64;
        }
        if let Some(targets) = doc.get("targets").and_then(|t| t.as_table()) {
            for (triple, entry) in targets {
                let installed = if let Some(version) = entry.as_str() {
                    Installed::new(version, flavor::DEFAULT)
                } else {
                    let field = |name: &str| {
                        entry
                            .get(name)
                            .and_then(|v| v.as_str())
                            .with_context(|| format!("{triple}: no {name} string"))
                    };
                    let installed = Installed::new(field("version")?, field("flavor")?);
                    if !flavor::is_valid_name(&installed.flavor) {
                        bail!("{triple}: `{}` is not a flavor", installed.flavor);
                    }
                    installed
                };
                state.targets.insert(triple.to_owned(), installed);
            }
        }
        if let Some(wirings) = doc.get("wiring").and_then(|w| w.as_array_of_tables()) {
            for w in wirings {
                let config = w
                    .get("config")
                    .and_then(|v| v.as_str())
                    .context("wiring without config")?;
                let written = w
                    .get("written")
                    .and_then(|v| v.as_str())
                    .context("wiring without written")?;
                let original = w
                    .get("original")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                let forced = w
                    .get("forced")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                state.wirings.push(Wiring {
                    config: PathBuf::from(config),
                    original,
                    written: written.to_owned(),
                    forced,
                });
            }
        }
        Ok(state)
    }

    fn to_toml(&self) -> String {
        let mut doc = toml_edit::DocumentMut::new();
        doc["accepted-release-timestamp"] =
            toml_edit::value(self.accepted_release_timestamp as i64);
        let mut targets = toml_edit::Table::new();
        for (triple, installed) in &self.targets {
            targets[triple.as_str()] = if installed.flavor == flavor::DEFAULT {
                toml_edit::value(installed.version.as_str())
            } else {
                let mut entry = toml_edit::InlineTable::new();
                entry.insert("version", installed.version.as_str().into());
                entry.insert("flavor", installed.flavor.as_str().into());
                toml_edit::value(entry)
            };
        }
        doc["targets"] = toml_edit::Item::Table(targets);
        let mut wirings = toml_edit::ArrayOfTables::new();
        for w in &self.wirings {
            let mut t = toml_edit::Table::new();
            t["config"] = toml_edit::value(w.config.display().to_string());
            if let Some(original) = &w.original {
                t["original"] = toml_edit::value(original.as_str());
            }
            t["written"] = toml_edit::value(w.written.as_str());
            let forced: toml_edit::Array = w.forced.iter().map(String::as_str).collect();
            t["forced"] = toml_edit::value(forced);
            wirings.push(t);
        }
        doc["wiring"] = toml_edit::Item::ArrayOfTables(wirings);
        doc.to_string()
    }

    pub fn save(&self, home: &FastmuslHome) -> Result<()> {
        write_atomic(&home.state_file(), self.to_toml().as_bytes())
    }
}

/// Writes beside the destination and renames, so a crash leaves either the
/// old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file to write has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.fastmusl-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        bail!("replacing {}: {e}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fastmusls_own_entries_are_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let home = FastmuslHome {
            root: dir.path().to_path_buf(),
        };
        for d in ["sysroots/v/t", "keys", "bin"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in [
            "state.toml",
            ".state.toml.fastmusl-42",
            "lock",
            "env",
            "keys/a.pub",
            "bin/fastmusl",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert!(home.foreign_entries().unwrap().is_empty());
        for f in [".profile", ".fastmusl-notes", "bin/ls", "keys/notes.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let foreign: Vec<String> = home
            .foreign_entries()
            .unwrap()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            foreign,
            [".fastmusl-notes", ".profile", "bin/ls", "keys/notes.txt"]
        );
    }

    #[test]
    fn state_round_trips_exact_bytes() {
        let mut state = InstallState {
            accepted_release_timestamp: 42,
            ..Default::default()
        };
        state.targets.insert(
            "x86_64-unknown-linux-musl".into(),
            Installed::new("v1", "default"),
        );
        state.targets.insert(
            "aarch64-unknown-linux-musl".into(),
            Installed::new("v1", "secure"),
        );
        state.wirings.push(Wiring {
            config: "/h/.cargo/config.toml".into(),
            original: Some("# mine\n[build]\njobs = 2 \n\ttrailing\t\n\"quoted\" '''\n".into()),
            written: "include = []\n".into(),
            forced: vec!["target.x.linker".into()],
        });
        state.wirings.push(Wiring {
            config: "/p/.cargo/config.toml".into(),
            original: None,
            written: "x".into(),
            forced: vec![],
        });
        let text = state.to_toml();
        assert_eq!(InstallState::parse(&text).unwrap(), state);
        // A default-flavor target is written as before flavors existed.
        assert!(
            text.contains("x86_64-unknown-linux-musl = \"v1\"\n"),
            "{text}"
        );
    }
}
