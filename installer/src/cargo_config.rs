//! Wiring cargo: the config file fastmusl owns, and the minimal, reversible
//! edit of the user's cargo config that makes cargo read it.
//!
//! fastmusl writes everything it configures (per target: `linker`,
//! `rustflags`, `runner`, and `[env]` `CC_<triple>`/`AR_<triple>` (and for
//! C++ `CXX_<triple>`/`CXXSTDLIB_<triple>`), as the
//! sysroot's manifest says) to `$FASTMUSL_HOME/cargo-config.toml`.
//! The user's config (`$CARGO_HOME/config.toml`, or `DIR/.cargo/config.toml`
//! with `--project`) gets only what is needed:
//!
//! - **include mode** (cargo ≥ 1.94, whose config `include` is stable): one
//!   `include` entry naming the owned file;
//! - **in-place mode** (older cargo): the same keys, edited into the user's
//!   file with a format-preserving TOML editor.
//!
//! Every edit is a pure function of the file's original bytes and the
//! installed targets (`apply`). fastmusl records the original bytes and what
//! it wrote; undoing restores the original byte for byte (or removes a file
//! fastmusl created), unless the user has changed the file since, in which
//! case only fastmusl's own entries are taken out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fastmusl_dist::sysroot::CargoWiring;
use toml_edit::{Array, DocumentMut, Item, Table, Value, value};

use crate::home::{Wiring, write_atomic};

/// The first cargo whose config `include` key is stable.
pub const INCLUDE_STABLE_SINCE: (u32, u32) = (1, 94);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WiringMode {
    Include,
    InPlace,
}

impl WiringMode {
    pub fn for_cargo_version(version: Option<(u32, u32)>) -> WiringMode {
        match version {
            Some(v) if v < INCLUDE_STABLE_SINCE => WiringMode::InPlace,
            _ => WiringMode::Include,
        }
    }
}

/// `cargo --version` as (major, minor), if cargo runs.
pub fn cargo_version() -> Option<(u32, u32)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The text of the owned config file for these targets.
pub fn owned_config_text(targets: &[CargoWiring]) -> String {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(
        "# Written by fastmusl (`fastmusl target add/remove` rewrite it); edits here are lost.\n",
    );
    add_target_keys(&mut doc, targets);
    doc.to_string()
}

fn add_target_keys(doc: &mut DocumentMut, targets: &[CargoWiring]) {
    for t in targets {
        let target = table_mut(doc.as_table_mut(), "target");
        target.set_dotted(true);
        let row = table_mut(target, &t.triple);
        row["linker"] = value(t.linker.display().to_string());
        if let Some(runner) = &t.runner {
            row["runner"] = value(runner.as_str());
        }
        add_rustflags(row, &t.rustflags);
    }
    if !targets.is_empty() {
        let env = table_mut(doc.as_table_mut(), "env");
        for t in targets {
            for (name, set) in t.env_vars() {
                env[name.as_str()] = value(set);
            }
        }
    }
}

/// Appends `ours` to the row's `rustflags` unless it already holds them in
/// that order: the user's own flags for the target stay.
fn add_rustflags(row: &mut Table, ours: &[String]) {
    if ours.is_empty() {
        return;
    }
    let mut flags = match row.get("rustflags").and_then(Item::as_array) {
        Some(existing) => existing.clone(),
        None => Array::new(),
    };
    if find_flags(&flags, ours).is_none() {
        for flag in ours {
            flags.push(flag.as_str());
        }
    }
    row["rustflags"] = value(flags);
}

/// Removes the first run of `ours` from the row's `rustflags`, and the key
/// when nothing else is left.
fn remove_rustflags(doc: &mut DocumentMut, triple: &str, ours: &[String]) {
    let Some(row) = doc
        .get_mut("target")
        .and_then(|t| t.get_mut(triple))
        .and_then(|r| r.as_table_like_mut())
    else {
        return;
    };
    let Some(flags) = row.get_mut("rustflags").and_then(|f| f.as_array_mut()) else {
        return;
    };
    if let Some(at) = find_flags(flags, ours) {
        for _ in 0..ours.len() {
            flags.remove(at);
        }
    }
    if flags.is_empty() {
        row.remove("rustflags");
    }
}

fn find_flags(flags: &Array, ours: &[String]) -> Option<usize> {
    let have: Vec<Option<&str>> = flags.iter().map(|v| v.as_str()).collect();
    if ours.is_empty() || have.len() < ours.len() {
        return None;
    }
    (0..=have.len() - ours.len()).find(|&at| {
        ours.iter()
            .enumerate()
            .all(|(i, f)| have[at + i] == Some(f.as_str()))
    })
}

fn table_mut<'a>(parent: &'a mut Table, key: &str) -> &'a mut Table {
    if !parent.contains_table(key) {
        parent.insert(key, Item::Table(Table::new()));
    }
    parent[key].as_table_mut().expect("just made a table")
}

/// A linker (or C compiler) the user set that would fight ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub config: PathBuf,
    pub key: String,
    pub theirs: String,
    pub ours: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} already sets {}:\n    theirs: {}\n    fastmusl: {}",
            self.config.display(),
            self.key,
            self.theirs,
            self.ours
        )
    }
}

/// Keys in `text` (the user's config) that set something fastmusl sets for
/// `targets` to another value.
pub fn conflicts(config: &Path, text: &str, targets: &[CargoWiring]) -> Result<Vec<Conflict>> {
    let doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", config.display()))?;
    let mut found = Vec::new();
    for t in targets {
        let mut check = |key: String, item: Option<&Item>, ours: &str| {
            if let Some(theirs) = item.and_then(|i| i.as_str())
                && Path::new(theirs) != Path::new(ours)
            {
                found.push(Conflict {
                    config: config.to_path_buf(),
                    key,
                    theirs: theirs.to_owned(),
                    ours: ours.to_owned(),
                });
            }
        };
        let row = doc.get("target").and_then(|x| x.get(&t.triple));
        check(
            format!("target.{}.linker", t.triple),
            row.and_then(|r| r.get("linker")),
            &t.linker.display().to_string(),
        );
        let env = doc.get("env");
        for (key, ours) in t.env_vars() {
            let item = env.and_then(|e| e.get(&key)).map(|i| match i.get("value") {
                Some(v) => v,
                None => i,
            });
            check(format!("env.{key}"), item, &ours);
        }
    }
    Ok(found)
}

/// A note when `text` (a user's config) sets `build.rustflags`: cargo
/// takes a target's `target.<triple>.rustflags` instead of `build.rustflags`,
/// so the user's flags stop applying to the targets fastmusl wires.
pub fn shadowed_build_rustflags(
    config: &Path,
    text: &str,
    targets: &[CargoWiring],
) -> Option<String> {
    let doc: DocumentMut = text.parse().ok()?;
    let theirs = doc.get("build")?.get("rustflags")?;
    let wired: Vec<&str> = targets
        .iter()
        .filter(|t| !t.rustflags.is_empty())
        .map(|t| t.triple.as_str())
        .collect();
    if wired.is_empty() {
        return None;
    }
    Some(format!(
        "{} sets build.rustflags ({}); for {} cargo uses fastmusl's target rustflags          instead, so yours do not apply there: repeat them under [target.<triple>]          rustflags if they should",
        config.display(),
        theirs.to_string().trim(),
        wired.join(", ")
    ))
}

/// The user's file with fastmusl's edit applied to `original`.
/// `forced`: the user's conflicting keys (`target.T.linker`, `env.CC_T`)
/// that `--force` let fastmusl's settings replace.
pub fn apply(
    original: Option<&str>,
    mode: WiringMode,
    owned: &Path,
    targets: &[CargoWiring],
    forced: &[String],
) -> Result<String> {
    let mut doc: DocumentMut = original
        .unwrap_or("")
        .parse()
        .context("the cargo config is not valid TOML")?;
    for key in forced {
        remove_dotted(&mut doc, key);
    }
    match mode {
        WiringMode::Include => {
            let entry = owned.display().to_string();
            match doc.get_mut("include") {
                None => {
                    let mut array = Array::new();
                    array.push(entry);
                    let mut item = value(array);
                    if let Some(v) = item.as_value_mut() {
                        v.decor_mut().set_suffix(
                            "  # added by fastmusl; `fastmusl self uninstall` removes it",
                        );
                    }
                    // Keep the new key first, before the user's content.
                    doc.insert("include", item);
                    doc.sort_values_by(|k1, _, k2, _| {
                        (k2.get() == "include").cmp(&(k1.get() == "include"))
                    });
                }
                Some(existing) => {
                    let mut array = match existing.as_value() {
                        Some(Value::Array(a)) => a.clone(),
                        Some(Value::String(s)) => {
                            let mut a = Array::new();
                            a.push(s.value().clone());
                            a
                        }
                        _ => bail!("the cargo config's `include` is neither a string nor an array"),
                    };
                    if !array.iter().any(|v| v.as_str() == Some(entry.as_str())) {
                        array.push(entry);
                    }
                    *existing = value(array);
                }
            }
        }
        WiringMode::InPlace => add_target_keys(&mut doc, targets),
    }
    Ok(doc.to_string())
}

fn remove_dotted(doc: &mut DocumentMut, key: &str) {
    let parts: Vec<&str> = key.splitn(3, '.').collect();
    match parts.as_slice() {
        ["target", triple, leaf] => {
            if let Some(row) = doc
                .get_mut("target")
                .and_then(|t| t.get_mut(triple))
                .and_then(|r| r.as_table_like_mut())
            {
                row.remove(leaf);
            }
        }
        ["env", name] => {
            if let Some(env) = doc.get_mut("env").and_then(|e| e.as_table_like_mut()) {
                env.remove(name);
            }
        }
        _ => {}
    }
}

/// Takes fastmusl's entries out of a file the user changed after fastmusl
/// wrote it (the surgical undo).
pub fn remove_ours(text: &str, owned: &Path, targets: &[CargoWiring]) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("the cargo config is not valid TOML")?;
    let entry = owned.display().to_string();
    let mut drop_include = false;
    if let Some(include) = doc.get_mut("include") {
        match include.as_value_mut() {
            Some(Value::Array(a)) => {
                a.retain(|v| v.as_str() != Some(entry.as_str()));
                drop_include = a.is_empty();
            }
            Some(Value::String(s)) if s.value() == &entry => drop_include = true,
            _ => {}
        }
    }
    if drop_include {
        doc.remove("include");
    }
    for t in targets {
        let env_keys = t
            .env_vars()
            .into_iter()
            .map(|(name, _)| format!("env.{name}"));
        for key in [
            format!("target.{}.linker", t.triple),
            format!("target.{}.runner", t.triple),
        ]
        .into_iter()
        .chain(env_keys)
        {
            remove_dotted(&mut doc, &key);
        }
        remove_rustflags(&mut doc, &t.triple, &t.rustflags);
    }
    Ok(doc.to_string())
}

/// Brings `wiring.config` to `apply(original)`; returns the updated record.
/// A file changed by the user since fastmusl last wrote it is first cleaned
/// of fastmusl's entries and taken as the new original.
pub fn rewire(
    config: &Path,
    previous: Option<&Wiring>,
    mode: WiringMode,
    owned: &Path,
    targets: &[CargoWiring],
    forced: &[String],
) -> Result<Wiring> {
    let current = read_optional(config)?;
    let original = match previous {
        Some(w) if current.as_deref() == Some(w.written.as_str()) => w.original.clone(),
        Some(_) => match &current {
            Some(text) => Some(remove_ours(text, owned, targets)?),
            None => None,
        },
        None => current.clone(),
    };
    let written = apply(original.as_deref(), mode, owned, targets, forced)?;
    if current.as_deref() != Some(written.as_str()) {
        write_atomic(config, written.as_bytes())?;
    }
    Ok(Wiring {
        config: config.to_path_buf(),
        original,
        written,
        forced: forced.to_vec(),
    })
}

/// Undoes fastmusl's edit of one config file. Returns a note when the file
/// had been changed by the user and was only cleaned, not restored.
pub fn unwire(wiring: &Wiring, owned: &Path, targets: &[CargoWiring]) -> Result<Option<String>> {
    let current = read_optional(&wiring.config)?;
    match current {
        Some(text) if text == wiring.written => {
            match &wiring.original {
                Some(original) => write_atomic(&wiring.config, original.as_bytes())?,
                None => {
                    std::fs::remove_file(&wiring.config)
                        .with_context(|| format!("removing {}", wiring.config.display()))?;
                    // A `.cargo` directory fastmusl created is left empty: remove it.
                    if let Some(dir) = wiring.config.parent() {
                        let _ = std::fs::remove_dir(dir);
                    }
                }
            }
            Ok(None)
        }
        Some(text) => {
            write_atomic(
                &wiring.config,
                remove_ours(&text, owned, targets)?.as_bytes(),
            )?;
            Ok(Some(format!(
                "{} was changed after fastmusl edited it; only fastmusl's entries were removed",
                wiring.config.display()
            )))
        }
        None => Ok(None),
    }
}

pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `$CARGO_HOME/config.toml` (or the legacy `config` if only that exists).
pub fn global_config_path() -> Result<PathBuf> {
    let cargo_home = match std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?)
                .join(".cargo")
        }
    };
    Ok(config_in(&cargo_home))
}

/// `DIR/config.toml`, or the legacy `DIR/config` when only that exists.
pub fn config_in(dir: &Path) -> PathBuf {
    let legacy = dir.join("config");
    let modern = dir.join("config.toml");
    if legacy.is_file() && !modern.exists() {
        legacy
    } else {
        modern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(triple: &str) -> CargoWiring {
        CargoWiring {
            triple: triple.to_owned(),
            linker: PathBuf::from(format!("/f/{triple}/bin/{triple}-ld")),
            cc: PathBuf::from(format!("/f/{triple}/bin/{triple}-cc")),
            ar: PathBuf::from(format!("/f/{triple}/bin/{triple}-ar")),
            cxx: Some(PathBuf::from(format!("/f/{triple}/bin/{triple}-c++"))),
            cxxstdlib: Some("c++".to_owned()),
            rustflags: vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()],
            runner: triple
                .starts_with("aarch64")
                .then(|| "qemu-aarch64-static".to_owned()),
        }
    }

    const USER: &str = "# my settings\n[build]\njobs = 4   # keep\n\n[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n";

    #[test]
    fn include_mode_adds_one_line_and_keeps_the_rest() {
        let owned = Path::new("/f/cargo-config.toml");
        let out = apply(
            Some(USER),
            WiringMode::Include,
            owned,
            &[target("x86_64-unknown-linux-musl")],
            &[],
        )
        .unwrap();
        let added: Vec<&str> = out
            .lines()
            .filter(|l| !USER.lines().any(|u| u == *l))
            .collect();
        assert_eq!(added.len(), 1, "{out}");
        assert!(
            added[0].starts_with("include = [\"/f/cargo-config.toml\"]"),
            "{out}"
        );
        assert!(
            out.starts_with("include"),
            "include must precede tables: {out}"
        );
        assert!(out.ends_with(USER), "{out}");
        let cleaned = remove_ours(&out, owned, &[]).unwrap();
        assert_eq!(cleaned, USER);
    }

    #[test]
    fn include_mode_extends_an_existing_include() {
        let owned = Path::new("/f/cargo-config.toml");
        let user = "include = \"other.toml\"\n[build]\njobs = 1\n";
        let out = apply(Some(user), WiringMode::Include, owned, &[], &[]).unwrap();
        let doc: DocumentMut = out.parse().unwrap();
        let include: Vec<&str> = doc["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(include, ["other.toml", "/f/cargo-config.toml"]);
    }

    #[test]
    fn in_place_mode_sets_every_key_and_removes_only_them() {
        let owned = Path::new("/f/cargo-config.toml");
        let targets = [
            target("x86_64-unknown-linux-musl"),
            target("aarch64-unknown-linux-musl"),
        ];
        let out = apply(Some(USER), WiringMode::InPlace, owned, &targets, &[]).unwrap();
        let doc: DocumentMut = out.parse().unwrap();
        assert_eq!(
            doc["target"]["aarch64-unknown-linux-musl"]["runner"].as_str(),
            Some("qemu-aarch64-static")
        );
        assert_eq!(
            doc["target"]["x86_64-unknown-linux-gnu"]["linker"].as_str(),
            Some("clang")
        );
        assert!(
            doc["env"]["CC_x86_64_unknown_linux_musl"]
                .as_str()
                .unwrap()
                .ends_with("-cc")
        );
        assert!(out.contains("jobs = 4   # keep"));
    }

    #[test]
    fn in_place_rustflags_join_the_user_s_and_leave_with_only_ours() {
        let owned = Path::new("/f/cargo-config.toml");
        let user =
            "[target.x86_64-unknown-linux-musl]\nrustflags = [\"-C\", \"target-cpu=native\"]\n";
        let targets = [target("x86_64-unknown-linux-musl")];
        let out = apply(Some(user), WiringMode::InPlace, owned, &targets, &[]).unwrap();
        let doc: DocumentMut = out.parse().unwrap();
        let flags: Vec<&str> = doc["target"]["x86_64-unknown-linux-musl"]["rustflags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            flags,
            [
                "-C",
                "target-cpu=native",
                "-C",
                "target-feature=+crt-static"
            ]
        );
        // Applying twice adds nothing; taking ours out leaves theirs.
        let again = apply(Some(&out), WiringMode::InPlace, owned, &targets, &[]).unwrap();
        assert_eq!(again, out);
        let cleaned: DocumentMut = remove_ours(&out, owned, &targets).unwrap().parse().unwrap();
        assert_eq!(
            cleaned["target"]["x86_64-unknown-linux-musl"]["rustflags"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let alone = apply(None, WiringMode::InPlace, owned, &targets, &[]).unwrap();
        let cleaned = remove_ours(&alone, owned, &targets).unwrap();
        assert!(!cleaned.contains("rustflags"), "{cleaned}");
    }

    #[test]
    fn a_user_s_build_rustflags_are_named_as_shadowed() {
        let targets = [target("x86_64-unknown-linux-musl")];
        let text = "[build]\nrustflags = [\"-C\", \"target-cpu=native\"]\n";
        let note = shadowed_build_rustflags(Path::new("c.toml"), text, &targets).unwrap();
        assert!(note.contains("target-cpu=native") && note.contains("x86_64-unknown-linux-musl"));
        assert_eq!(
            shadowed_build_rustflags(Path::new("c.toml"), "[build]\njobs = 2\n", &targets),
            None
        );
    }

    #[test]
    fn a_different_linker_is_a_conflict_the_same_one_is_not() {
        let t = target("x86_64-unknown-linux-musl");
        let theirs = "[target.x86_64-unknown-linux-musl]\nlinker = \"/usr/bin/musl-gcc\"\n[env]\nCC_x86_64_unknown_linux_musl = { value = \"musl-gcc\" }\n";
        let found = conflicts(Path::new("c.toml"), theirs, std::slice::from_ref(&t)).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].theirs, "/usr/bin/musl-gcc");
        let same = format!(
            "[target.x86_64-unknown-linux-musl]\nlinker = \"{}\"\n",
            t.linker.display()
        );
        assert!(
            conflicts(Path::new("c.toml"), &same, &[t])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rewire_and_unwire_restore_bytes_or_remove_a_created_file() {
        let dir = tempfile::tempdir().unwrap();
        let owned = dir.path().join("owned.toml");
        let targets = [target("x86_64-unknown-linux-musl")];

        let existing = dir.path().join("existing.toml");
        std::fs::write(&existing, USER).unwrap();
        let w = rewire(&existing, None, WiringMode::Include, &owned, &targets, &[]).unwrap();
        assert_ne!(std::fs::read_to_string(&existing).unwrap(), USER);
        let w = rewire(
            &existing,
            Some(&w),
            WiringMode::Include,
            &owned,
            &targets,
            &[],
        )
        .unwrap();
        assert_eq!(unwire(&w, &owned, &targets).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), USER);

        let created = dir.path().join("proj/.cargo/config.toml");
        let w = rewire(&created, None, WiringMode::Include, &owned, &targets, &[]).unwrap();
        assert!(created.exists());
        unwire(&w, &owned, &targets).unwrap();
        assert!(!created.exists() && !created.parent().unwrap().exists());
    }

    #[test]
    fn a_file_changed_by_the_user_is_cleaned_not_reverted() {
        let dir = tempfile::tempdir().unwrap();
        let owned = dir.path().join("owned.toml");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, USER).unwrap();
        let w = rewire(&config, None, WiringMode::Include, &owned, &[], &[]).unwrap();
        let edited = format!(
            "{}[alias]\nb = \"build\"\n",
            std::fs::read_to_string(&config).unwrap()
        );
        std::fs::write(&config, &edited).unwrap();
        let note = unwire(&w, &owned, &[]).unwrap();
        assert!(note.is_some());
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            format!("{USER}[alias]\nb = \"build\"\n")
        );
    }
}
