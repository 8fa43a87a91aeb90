//! The contract between a sysroot and whatever wires it into cargo.
//!
//! The pipeline writes `fastmusl-sysroot.toml` into every sysroot; its
//! `[wiring]` table says what cargo must be told to use that sysroot: the
//! tools' paths inside it, the rustflags every build for the target needs,
//! and the emulator that runs its binaries on hosts of another
//! architecture. `cargo xtask dist` copies the same table into the signed
//! channel manifest, so the installer can plan (and refuse a conflicting
//! user config) before it downloads anything.
//!
//! The installer reads these facts and never derives them from the triple:
//! emulator names do not follow one pattern (`qemu-arm-static` runs armv7
//! and armv6, `qemu-ppc64le-static` runs powerpc64le), and which targets
//! need `+crt-static` depends on rustc's target specs.
//!
//! The rest of the file (what the sysroot was built from) is the pipeline's
//! record; readers here keep it as an opaque table.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

/// The file in every sysroot that says what it is and how to wire it.
pub const MANIFEST_FILE: &str = "fastmusl-sysroot.toml";

/// `fastmusl-sysroot.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysrootManifest {
    pub version: String,
    /// The Rust target triple.
    pub target: String,
    /// Which build of the target this is (see `crate::flavor`); absent in
    /// sysroots made before flavors, which are the default. (Older readers
    /// keep it in `build`, with everything else they do not know.)
    #[serde(default = "crate::flavor::default_name")]
    pub flavor: String,
    /// The mimalloc options whose defaults this flavor's build sets, by
    /// mimalloc's option name (`purge_delay = 250`): fastmusl's footprint
    /// choices (patches/mimalloc/0003-0005). `MIMALLOC_<NAME>` still
    /// overrides each at run time. Empty in sysroots made before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocator_defaults: BTreeMap<String, i64>,
    /// mimalloc's build switches this flavor sets, by name in lowercase
    /// (`-DMI_ENABLE_LARGE_PAGES=0` is `enable_large_pages = 0`): choices
    /// fixed when the sysroot was built, which no `MIMALLOC_` variable
    /// changes. Empty in sysroots made before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocator_build: BTreeMap<String, i64>,
    pub wiring: SysrootWiring,
    /// Everything else: the pipeline's record of sources, patches, compiler
    /// and flags.
    #[serde(flatten)]
    pub build: toml::Table,
}

/// What cargo needs to build for a sysroot's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysrootWiring {
    /// `target.<triple>.linker`, relative to the sysroot.
    pub linker: String,
    /// The `cc` crate's `CC_<triple>`, relative to the sysroot.
    pub cc: String,
    /// The `cc` crate's `AR_<triple>`, relative to the sysroot.
    pub ar: String,
    /// The `cc` crate's `CXX_<triple>` (the C++ compiler wrapper), relative
    /// to the sysroot; absent in sysroots made before they had C++.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cxx: Option<String>,
    /// The `cc` crate's `CXXSTDLIB_<triple>`: the C++ library that crates
    /// with C++ inside link (`c++`, the sysroot's libc++).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cxxstdlib: Option<String>,
    /// `target.<triple>.rustflags`.
    pub rustflags: Vec<String>,
    /// The OCI platform its binaries are filed under in an image
    /// (`linux/arm/v7`): how `fastmusl image --platform` finds the target.
    /// Absent in sysroots made before. (Before `runner`: a value goes
    /// before a table in TOML.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The rustup toolchain (a dated nightly, `nightly-YYYY-MM-DD`) that builds std with
    /// `-Zbuild-std` where rustup ships no rust-std for the target: the
    /// nightly the sysroot was tested with. Absent in sysroots made before
    /// the pin (see `build_std_toolchain()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_std_toolchain: Option<String>,
    pub runner: Runner,
}

impl SysrootWiring {
    /// The pinned nightly, or rustup's newest for sysroots made before.
    pub fn build_std_toolchain(&self) -> &str {
        self.build_std_toolchain
            .as_deref()
            .unwrap_or(crate::rust_std::UNPINNED_NIGHTLY)
    }
}

/// How binaries of the target run on a build host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    /// A user-mode emulator, looked up on PATH when cargo runs a binary.
    pub emulator: String,
    /// Host architectures (`std::env::consts::ARCH` names) that run the
    /// binaries directly.
    pub native_on: Vec<String>,
}

impl Runner {
    /// The emulator a host of `host_arch` needs, or `None` when it runs
    /// the binaries itself.
    pub fn for_host(&self, host_arch: &str) -> Option<&str> {
        (!self.native_on.iter().any(|a| a == host_arch)).then_some(self.emulator.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SysrootError {
    #[error("{path} is missing: this is not a (complete) fastmusl sysroot")]
    Missing { path: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a sysroot manifest this fastmusl understands ({source}); \
         it may come from an older release: `fastmusl update` replaces it"
    )]
    Parse {
        path: String,
        source: toml::de::Error,
    },
}

impl SysrootManifest {
    pub fn read(sysroot: &Path) -> Result<SysrootManifest, SysrootError> {
        let path = sysroot.join(MANIFEST_FILE);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SysrootError::Missing {
                    path: shown.clone(),
                }
            } else {
                SysrootError::Io {
                    path: shown.clone(),
                    source,
                }
            }
        })?;
        toml::from_str(&text).map_err(|source| SysrootError::Parse {
            path: shown,
            source,
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a sysroot manifest always serialises")
    }
}

/// The settings cargo gets for one target whose sysroot is at a given
/// place: what the installer writes and what the pipeline's tests use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoWiring {
    pub triple: String,
    pub linker: PathBuf,
    pub cc: PathBuf,
    pub ar: PathBuf,
    pub cxx: Option<PathBuf>,
    pub cxxstdlib: Option<String>,
    pub rustflags: Vec<String>,
    /// The emulator, when the host cannot run the target's binaries.
    pub runner: Option<String>,
}

impl CargoWiring {
    pub fn new(triple: &str, sysroot: &Path, wiring: &SysrootWiring, host_arch: &str) -> Self {
        CargoWiring {
            triple: triple.to_owned(),
            linker: sysroot.join(&wiring.linker),
            cc: sysroot.join(&wiring.cc),
            ar: sysroot.join(&wiring.ar),
            cxx: wiring.cxx.as_ref().map(|cxx| sysroot.join(cxx)),
            cxxstdlib: wiring.cxxstdlib.clone(),
            rustflags: wiring.rustflags.clone(),
            runner: wiring.runner.for_host(host_arch).map(str::to_owned),
        }
    }

    /// `CC_<triple>`: the `cc` crate's per-target variable (dashes and dots
    /// become underscores).
    pub fn cc_var(&self) -> String {
        format!("CC_{}", env_suffix(&self.triple))
    }

    /// `AR_<triple>`.
    pub fn ar_var(&self) -> String {
        format!("AR_{}", env_suffix(&self.triple))
    }

    /// Every `[env]` variable fastmusl sets for the target, with its value:
    /// `CC_`, `AR_`, and where the sysroot has C++, `CXX_` and `CXXSTDLIB_`
    /// (the `cc` crate's names; the `cmake` crate takes the compilers from
    /// `cc`).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let suffix = env_suffix(&self.triple);
        let mut vars = vec![
            (self.cc_var(), self.cc.display().to_string()),
            (self.ar_var(), self.ar.display().to_string()),
        ];
        if let Some(cxx) = &self.cxx {
            vars.push((format!("CXX_{suffix}"), cxx.display().to_string()));
        }
        if let Some(lib) = &self.cxxstdlib {
            vars.push((format!("CXXSTDLIB_{suffix}"), lib.clone()));
        }
        vars
    }

    /// `CARGO_TARGET_<TRIPLE>_LINKER`, which overrides the config's linker.
    pub fn linker_var(&self) -> String {
        format!(
            "CARGO_TARGET_{}_LINKER",
            env_suffix(&self.triple).to_uppercase()
        )
    }

    /// The cargo configuration text for these targets, as a project's
    /// `.cargo/config.toml` or an included file.
    pub fn config_text(targets: &[CargoWiring]) -> String {
        let mut text = String::new();
        for t in targets {
            text += &format!("[target.{}]\n", t.triple);
            text += &format!("linker = {}\n", quote(&t.linker.display().to_string()));
            if let Some(runner) = &t.runner {
                text += &format!("runner = {}\n", quote(runner));
            }
            if !t.rustflags.is_empty() {
                let flags: Vec<String> = t.rustflags.iter().map(|f| quote(f)).collect();
                text += &format!("rustflags = [{}]\n", flags.join(", "));
            }
            text += "\n";
        }
        if !targets.is_empty() {
            text += "[env]\n";
            for t in targets {
                for (name, value) in t.env_vars() {
                    text += &format!("{name} = {}\n", quote(&value));
                }
            }
        }
        text
    }
}

/// The triple as cargo and the `cc` crate write it in variable names.
pub fn env_suffix(triple: &str) -> String {
    triple.replace(['-', '.'], "_")
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring() -> SysrootWiring {
        SysrootWiring {
            linker: "bin/armv7-unknown-linux-musleabihf-ld".to_owned(),
            cc: "bin/armv7-unknown-linux-musleabihf-cc".to_owned(),
            ar: "bin/armv7-unknown-linux-musleabihf-ar".to_owned(),
            cxx: Some("bin/armv7-unknown-linux-musleabihf-c++".to_owned()),
            cxxstdlib: Some("c++".to_owned()),
            rustflags: vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()],
            platform: Some("linux/arm/v7".to_owned()),
            build_std_toolchain: Some("nightly-2000-01-01".to_owned()),
            runner: Runner {
                emulator: "qemu-arm-static".to_owned(),
                native_on: vec!["arm".to_owned()],
            },
        }
    }

    #[test]
    fn the_runner_is_the_table_s_emulator_unless_the_host_runs_it() {
        let runner = Runner {
            emulator: "qemu-i386-static".to_owned(),
            native_on: vec!["x86".to_owned(), "x86_64".to_owned()],
        };
        assert_eq!(runner.for_host("x86_64"), None);
        assert_eq!(runner.for_host("aarch64"), Some("qemu-i386-static"));
    }

    #[test]
    fn a_manifest_keeps_the_pipeline_s_record_and_round_trips() {
        let mut record = toml::Table::new();
        record.insert("wiring".into(), toml::Value::try_from(wiring()).unwrap());
        let text = format!(
            "version = \"v1\"\ntarget = \"armv7-unknown-linux-musleabihf\"\n\
             inputs_sha256 = \"ab\"\n\n[musl]\nversion = \"1.2.6\"\n\n{}",
            toml::to_string(&record).unwrap()
        );
        let manifest: SysrootManifest = toml::from_str(&text).unwrap();
        assert_eq!(manifest.wiring, wiring());
        assert_eq!(manifest.build["inputs_sha256"].as_str(), Some("ab"));
        assert_eq!(manifest.build["musl"]["version"].as_str(), Some("1.2.6"));
        let again: SysrootManifest = toml::from_str(&manifest.to_toml()).unwrap();
        assert_eq!(again, manifest);
    }

    /// A sysroot from before C++ (no `cxx` in its wiring) still reads, and
    /// gets no C++ variables.
    #[test]
    fn a_wiring_without_cxx_reads_and_sets_only_c_variables() {
        let text = "linker = \"bin/l\"\ncc = \"bin/c\"\nar = \"bin/a\"\nrustflags = []\n\
                    [runner]\nemulator = \"qemu-arm-static\"\nnative_on = []\n";
        let old: SysrootWiring = toml::from_str(text).unwrap();
        assert_eq!((old.cxx.as_deref(), old.cxxstdlib.as_deref()), (None, None));
        let t = CargoWiring::new(
            "armv7-unknown-linux-musleabihf",
            Path::new("/s"),
            &old,
            "arm",
        );
        let names: Vec<String> = t.env_vars().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "CC_armv7_unknown_linux_musleabihf",
                "AR_armv7_unknown_linux_musleabihf"
            ]
        );
    }

    #[test]
    fn reading_names_the_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let err = SysrootManifest::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(MANIFEST_FILE) && err.contains("missing"),
            "{err}"
        );
        std::fs::write(dir.path().join(MANIFEST_FILE), "version = \"v\"\n").unwrap();
        let err = SysrootManifest::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("fastmusl update"), "{err}");
    }

    #[test]
    fn the_cargo_config_sets_every_key_for_each_target() {
        let sysroot = Path::new("/home/u/.fastmusl/sysroots/v1/armv7-unknown-linux-musleabihf");
        let t = CargoWiring::new(
            "armv7-unknown-linux-musleabihf",
            sysroot,
            &wiring(),
            "x86_64",
        );
        assert_eq!(t.cc_var(), "CC_armv7_unknown_linux_musleabihf");
        assert_eq!(
            t.linker_var(),
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER"
        );
        let config: toml::Table = CargoWiring::config_text(std::slice::from_ref(&t))
            .parse()
            .unwrap();
        let row = &config["target"]["armv7-unknown-linux-musleabihf"];
        assert_eq!(row["linker"].as_str(), Some(t.linker.to_str().unwrap()));
        assert_eq!(row["runner"].as_str(), Some("qemu-arm-static"));
        assert_eq!(row["rustflags"].as_array().unwrap().len(), 2, "{config:?}");
        assert_eq!(
            config["env"]["AR_armv7_unknown_linux_musleabihf"].as_str(),
            Some(t.ar.to_str().unwrap())
        );
        assert_eq!(
            config["env"]["CXX_armv7_unknown_linux_musleabihf"].as_str(),
            Some(
                "/home/u/.fastmusl/sysroots/v1/armv7-unknown-linux-musleabihf/bin/armv7-unknown-linux-musleabihf-c++"
            )
        );
        assert_eq!(
            config["env"]["CXXSTDLIB_armv7_unknown_linux_musleabihf"].as_str(),
            Some("c++")
        );
        let native = CargoWiring::new("armv7-unknown-linux-musleabihf", sysroot, &wiring(), "arm");
        assert!(!CargoWiring::config_text(&[native]).contains("runner"));
    }
}
