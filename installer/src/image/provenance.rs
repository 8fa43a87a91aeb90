//! The SLSA provenance (v1) of an image, as an in-toto statement: what was
//! built (the index and each platform manifest, by digest), how (the exact
//! command, the cargo package, binary, profile and features), from what
//! (the source repository and commit, Cargo.lock's hash, per platform the
//! sysroot's version and its manifest's hash, rustc), and by which builder.
//! The build type is described in docs/provenance.md.
//!
//! Nothing in it is a clock reading: the same build gives the same
//! statement, and so the same attestation when pushed again.

use serde_json::{Value, json};

pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const BUILD_TYPE: &str =
    "https://github.com/fastmusl/fastmusl/blob/main/docs/provenance.md#fastmusl-image-v1";
/// The builder when none is named: fastmusl run by whoever ran it.
pub const LOCAL_BUILDER: &str =
    "https://github.com/fastmusl/fastmusl/blob/main/docs/provenance.md#local";

/// The source tree, when it is a git work tree.
pub struct Source {
    pub repository: Option<String>,
    pub commit: String,
    pub dirty: bool,
}

/// A sysroot one platform was linked with.
pub struct SysrootUsed {
    pub platform: String,
    pub triple: String,
    pub version: String,
    pub flavor: String,
    pub manifest_sha256: String,
}

/// A binary given by path (built before `fastmusl image` ran).
pub struct PrebuiltBinary {
    pub platform: String,
    pub file_name: String,
    pub sha256: String,
}

pub struct Provenance {
    /// `registry/repository`, the subjects' name.
    pub repository: String,
    /// The digests built: what the tag names first, then each platform's
    /// manifest of an index.
    pub subjects: Vec<String>,
    pub command: Vec<String>,
    pub builder_id: String,
    pub source: Option<Source>,
    /// `(package, version, bin)` of a cargo build.
    pub package: Option<(String, String, String)>,
    pub profile: Option<String>,
    pub features: Vec<String>,
    pub platforms: Vec<String>,
    pub cargo_lock_sha256: Option<String>,
    pub sysroots: Vec<SysrootUsed>,
    pub prebuilt: Vec<PrebuiltBinary>,
    /// `rustc -vV`'s `release` and `commit-hash`.
    pub rustc: Option<(String, String)>,
    pub source_date_epoch: u64,
}

impl Provenance {
    /// The in-toto statement, canonical JSON.
    pub fn statement(&self) -> anyhow::Result<Vec<u8>> {
        let subjects: Vec<Value> = self
            .subjects
            .iter()
            .map(|d| json!({"name": self.repository, "digest": {"sha256": super::oci::hex_of(d)}}))
            .collect();
        let mut external = json!({
            "command": self.command,
            "platforms": self.platforms,
        });
        if let Some((package, version, bin)) = &self.package {
            external["package"] = json!({"name": package, "version": version, "bin": bin});
            external["profile"] = json!(self.profile.as_deref().unwrap_or("release"));
            external["features"] = json!(self.features);
        }
        let mut dependencies = Vec::new();
        if let Some(source) = &self.source {
            let uri = match &source.repository {
                Some(url) => format!("git+{url}@{}", source.commit),
                None => format!("git+file:{}", source.commit),
            };
            let mut d = json!({"uri": uri, "digest": {"gitCommit": source.commit}});
            if source.dirty {
                d["annotations"] = json!({"uncommitted_changes": true});
            }
            external["source"] = json!(uri);
            dependencies.push(d);
        }
        if let Some(sha256) = &self.cargo_lock_sha256 {
            dependencies.push(json!({"name": "Cargo.lock", "digest": {"sha256": sha256}}));
        }
        for s in &self.sysroots {
            dependencies.push(json!({
                "name": format!("fastmusl-sysroot-{}", s.triple),
                "uri": format!("pkg:generic/fastmusl-sysroot@{}?target={}", s.version, s.triple),
                "digest": {"sha256": s.manifest_sha256},
                "annotations": {
                    "platform": s.platform,
                    "flavor": s.flavor,
                    "digest_of": "fastmusl-sysroot.toml",
                },
            }));
        }
        for b in &self.prebuilt {
            dependencies.push(json!({
                "name": b.file_name,
                "digest": {"sha256": b.sha256},
                "annotations": {"platform": b.platform, "built_before": true},
            }));
        }
        if let Some((release, commit)) = &self.rustc {
            dependencies.push(json!({
                "name": "rustc",
                "uri": format!("git+https://github.com/rust-lang/rust@{commit}"),
                "digest": {"gitCommit": commit},
                "annotations": {"release": release},
            }));
        }
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "buildDefinition": {
                    "buildType": BUILD_TYPE,
                    "externalParameters": external,
                    "internalParameters": {"SOURCE_DATE_EPOCH": self.source_date_epoch},
                    "resolvedDependencies": dependencies,
                },
                "runDetails": {
                    "builder": {
                        "id": self.builder_id,
                        "version": {"fastmusl": env!("CARGO_PKG_VERSION")},
                    },
                },
            },
        });
        super::oci::canonical_json(&statement)
    }
}

/// What `rustc -vV` says: its release and commit, if it answers.
pub fn rustc_version() -> Option<(String, String)> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    Some((field("release:")?, field("commit-hash:")?))
}
