//! The per-target platform table (`sysroots/targets.toml`): the one place
//! that says how a Rust triple maps to musl's ARCH, clang's target, Debian's
//! packages and the emulator that runs its binaries.

use std::{fmt, path::Path, str::FromStr};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformTable {
    pub common: CommonFlags,
    /// The flavors every sysroot is built in, the default first.
    pub flavor: Vec<FlavorRow>,
    pub target: Vec<TargetPlatform>,
}

/// One flavor of every target's sysroot (see `fastmusl_dist::flavor`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FlavorRow {
    pub name: String,
    /// One line on what it is, as the channel manifest carries it.
    pub summary: String,
    /// mimalloc's flags for this flavor, after `[common]`'s.
    pub mimalloc_cflags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommonFlags {
    pub rustflags: Vec<String>,
    pub cflags: Vec<String>,
    /// The dated nightly that builds std where rustup ships no rust-std.
    pub build_std_toolchain: String,
    pub mimalloc_cflags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetPlatform {
    pub triple: TargetTriple,
    pub musl_arch: String,
    pub clang_target: String,
    pub gnu_triple: String,
    /// The emulator that runs this target's binaries elsewhere.
    pub emulator: String,
    /// Host architectures that run them directly.
    pub native_on: Vec<String>,
    /// ELF `e_machine` of its executables.
    pub elf_machine: u16,
    /// ELF class: 32 or 64.
    pub elf_bits: u8,
    /// The OCI platform an image files its binaries under.
    pub oci_platform: String,
    /// `dist` ships the installer built for this target.
    #[serde(default)]
    pub installer_host: bool,
    /// rustflags on top of the common ones.
    #[serde(default)]
    pub rustflags: Vec<String>,
    pub cflags: Vec<String>,
    pub uapi_headers: String,
    pub uapi_package: String,
    pub uapi_tree_sha256: String,
    pub libgcc_package: String,
    /// Replace musl's string functions with Arm's optimized-routines
    /// (aarch64: see sources.toml and patches/musl/0003).
    #[serde(default)]
    pub arm_optimized_routines: bool,
}

/// A Rust target triple such as `x86_64-unknown-linux-musl`.
///
/// Only the shape is checked here; whether fastmusl supports it is a lookup
/// in the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TargetTriple(String);

impl TargetTriple {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form cargo and the `cc` crate use in environment variable names
    /// (`CC_x86_64_unknown_linux_musl`).
    pub fn env_suffix(&self) -> String {
        fastmusl_dist::sysroot::env_suffix(&self.0)
    }
}

impl FromStr for TargetTriple {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = s.split('-').count() >= 3
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            bail!("`{s}` is not a target triple (e.g. x86_64-unknown-linux-musl)");
        }
        Ok(TargetTriple(s.to_owned()))
    }
}

impl TryFrom<String> for TargetTriple {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<TargetTriple> for String {
    fn from(t: TargetTriple) -> String {
        t.0
    }
}

impl fmt::Display for TargetTriple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Narrows the tests to some targets: a comma-separated list of triples.
pub const TEST_TARGETS_ENV: &str = "FASTMUSL_TEST_TARGETS";

impl PlatformTable {
    /// The project's table, `sysroots/targets.toml`.
    pub fn project() -> Result<PlatformTable> {
        Self::load(&crate::project_root().join("sysroots/targets.toml"))
    }

    /// The rows the tests cover: every row, or those `FASTMUSL_TEST_TARGETS`
    /// names, in the table's order.
    pub fn under_test(&self) -> Result<Vec<TargetPlatform>> {
        let Some(list) = std::env::var(TEST_TARGETS_ENV)
            .ok()
            .filter(|l| !l.trim().is_empty())
        else {
            return Ok(self.target.clone());
        };
        let wanted: Vec<TargetTriple> = list
            .split(',')
            .map(|t| t.trim().parse())
            .collect::<Result<_>>()
            .with_context(|| format!("{TEST_TARGETS_ENV}={list}"))?;
        for triple in &wanted {
            self.get(triple)
                .with_context(|| format!("{TEST_TARGETS_ENV}={list}"))?;
        }
        Ok(self
            .target
            .iter()
            .filter(|row| wanted.contains(&row.triple))
            .cloned()
            .collect())
    }

    /// The triples of `under_test`, for the end-to-end tests.
    pub fn triples_under_test() -> Vec<String> {
        let rows = Self::project()
            .and_then(|table| table.under_test())
            .unwrap_or_else(|e| panic!("{e:#}"));
        rows.into_iter().map(|row| row.triple.to_string()).collect()
    }

    pub fn load(path: &Path) -> Result<PlatformTable> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: PlatformTable =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut seen = std::collections::HashSet::new();
        let mut platforms = std::collections::HashSet::new();
        for row in &table.target {
            if !seen.insert(&row.triple) {
                bail!("{}: target {} is listed twice", path.display(), row.triple);
            }
            // One target per platform: `fastmusl image --platform` picks
            // the target by it.
            if !row.oci_platform.starts_with("linux/") || !platforms.insert(&row.oci_platform) {
                bail!(
                    "{}: {}'s oci_platform {} is not linux/ARCH[/VARIANT] or is another \
                     target's",
                    path.display(),
                    row.triple,
                    row.oci_platform
                );
            }
        }
        let names: Vec<&str> = table.flavor.iter().map(|f| f.name.as_str()).collect();
        if names.first() != Some(&fastmusl_dist::flavor::DEFAULT) {
            bail!(
                "{}: the first [[flavor]] must be `{}`",
                path.display(),
                fastmusl_dist::flavor::DEFAULT
            );
        }
        let mut seen = std::collections::HashSet::new();
        for name in names {
            if !fastmusl_dist::flavor::is_valid_name(name) || !seen.insert(name) {
                bail!(
                    "{}: flavor `{name}` is listed twice or is not a flavor name \
                     (lowercase letters and digits)",
                    path.display()
                );
            }
        }
        Ok(table)
    }

    /// The flavor called `name`.
    pub fn flavor(&self, name: &str) -> Result<&FlavorRow> {
        self.flavor
            .iter()
            .find(|f| f.name == name)
            .with_context(|| {
                let known: Vec<&str> = self.flavor.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "there is no sysroot flavor `{name}`; flavors: {}",
                    known.join(", ")
                )
            })
    }

    pub fn get(&self, triple: &TargetTriple) -> Result<&TargetPlatform> {
        self.target
            .iter()
            .find(|row| &row.triple == triple)
            .with_context(|| {
                let known: Vec<&str> = self.target.iter().map(|r| r.triple.as_str()).collect();
                format!(
                    "fastmusl has no sysroot for target `{triple}`; supported targets: {}",
                    known.join(", ")
                )
            })
    }
}

/// Runs `test` for every target under test (`PlatformTable::under_test`),
/// for the end-to-end tests: every target runs even when one fails, and the
/// failure names its target, so one target's failure reads as such.
pub fn for_each_target_under_test(test: impl Fn(&TargetPlatform)) {
    let table = PlatformTable::project().unwrap_or_else(|e| panic!("{e:#}"));
    let rows = table.under_test().unwrap_or_else(|e| panic!("{e:#}"));
    let mut failed = Vec::new();
    for row in &rows {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(row)));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", row.triple));
        }
    }
    assert!(
        failed.is_empty(),
        "failed for {} of {} target(s):\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

impl TargetPlatform {
    /// True when binaries of this target need an emulator on this host.
    pub fn is_foreign(&self) -> bool {
        self.runner().for_host(std::env::consts::ARCH).is_some()
    }

    /// The row's emulator facts, as the sysroot's manifest records them.
    pub fn runner(&self) -> fastmusl_dist::sysroot::Runner {
        fastmusl_dist::sysroot::Runner {
            emulator: self.emulator.clone(),
            native_on: self.native_on.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PlatformTable {
        PlatformTable::load(&crate::project_root().join("sysroots/targets.toml")).unwrap()
    }

    #[test]
    fn the_table_has_both_first_targets() {
        let table = table();
        let x86 = table
            .get(&"x86_64-unknown-linux-musl".parse().unwrap())
            .unwrap();
        assert_eq!(x86.musl_arch, "x86_64");
        assert!(!x86.is_foreign());
        let arm = table
            .get(&"aarch64-unknown-linux-musl".parse().unwrap())
            .unwrap();
        assert_eq!(arm.musl_arch, "aarch64");
        assert_eq!(arm.emulator, "qemu-aarch64-static");
    }

    #[test]
    fn an_unknown_target_names_the_supported_ones() {
        let err = table()
            .get(&"s390x-unknown-linux-musl".parse().unwrap())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s390x-unknown-linux-musl"), "{msg}");
        assert!(msg.contains("aarch64-unknown-linux-musl"), "{msg}");
    }

    #[test]
    fn triples_are_checked_for_shape() {
        assert!("x86_64".parse::<TargetTriple>().is_err());
        assert!(
            "x86_64-unknown-linux-musl; rm -rf /"
                .parse::<TargetTriple>()
                .is_err()
        );
        let t: TargetTriple = "aarch64-unknown-linux-musl".parse().unwrap();
        assert_eq!(t.env_suffix(), "aarch64_unknown_linux_musl");
    }
}
