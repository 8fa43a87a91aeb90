//! The crates in an image's binary, per target: cargo's resolve for that
//! platform (`cargo metadata --filter-platform`, with the build's
//! features), the checksums from `Cargo.lock`, and each package's licence
//! and authors. The same list becomes the binary's `.dep-v0` section
//! (`auditable`) and the image's SBOM (`sbom`).
//!
//! A crate is *runtime* when the root reaches it through normal
//! dependencies without passing through a proc-macro, and *build* when it
//! is only a build dependency, a proc-macro or what those need: build
//! crates run on the build machine and are not in the binary. That is
//! cargo-auditable's format 1.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::cargo_build::BuildOptions;
use super::project::Project;

/// Where a crate came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CrateSource {
    CratesIo,
    /// Another registry, by its index URL.
    Registry(String),
    /// A git repository: its URL and the commit cargo locked.
    Git {
        url: String,
        commit: String,
    },
    /// A path dependency or a workspace member.
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CrateKind {
    Build,
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub source: CrateSource,
    /// `Cargo.lock`'s checksum: the SHA-256 of the `.crate` file.
    pub checksum: Option<String>,
    /// The package's `license` (an SPDX expression, or the older `A/B`).
    pub license: Option<String>,
    pub authors: Vec<String>,
    pub repository: Option<String>,
    pub kind: CrateKind,
    /// Indices into the graph's crates (not dev-dependencies).
    pub dependencies: Vec<usize>,
    pub root: bool,
}

impl Crate {
    /// `pkg:cargo/NAME@VERSION` (the purl type for crates.io), or the
    /// purl of another origin.
    pub fn purl(&self) -> String {
        match &self.source {
            CrateSource::CratesIo => format!("pkg:cargo/{}@{}", self.name, self.version),
            CrateSource::Registry(url) => format!(
                "pkg:cargo/{}@{}?repository_url={}",
                self.name,
                self.version,
                percent_encode(url)
            ),
            CrateSource::Git { url, commit } => format!(
                "pkg:cargo/{}@{}?vcs_url={}",
                self.name,
                self.version,
                percent_encode(&format!("git+{url}@{commit}"))
            ),
            CrateSource::Local => format!("pkg:cargo/{}@{}", self.name, self.version),
        }
    }
}

/// Every crate cargo resolved for one target, root first then sorted by
/// name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    pub crates: Vec<Crate>,
}

impl DependencyGraph {
    /// Asks cargo for `project`'s resolve on `triple`, with the features of
    /// the build.
    pub fn resolve(project: &Project, triple: &str, options: &BuildOptions) -> Result<Self> {
        let mut args = vec![
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            triple,
        ];
        let features = options.features.join(",");
        if !features.is_empty() {
            args.extend(["--features", &features]);
        }
        if options.all_features {
            args.push("--all-features");
        }
        if options.no_default_features {
            args.push("--no-default-features");
        }
        if options.locked {
            args.push("--locked");
        }
        let metadata = super::project::cargo_output(&args, &project.manifest_path)?;
        let lock_file = project.workspace_root.join("Cargo.lock");
        let lock = std::fs::read_to_string(&lock_file)
            .with_context(|| format!("reading {}", lock_file.display()))?;
        Self::from_metadata(&metadata, &lock, &project.package).with_context(|| {
            format!(
                "reading cargo's resolve of {} for {triple}",
                project.package
            )
        })
    }

    /// The graph in `cargo metadata`'s JSON, rooted at workspace member
    /// `root_name`, with the checksums of `lock` (Cargo.lock's text).
    pub fn from_metadata(metadata: &[u8], lock: &str, root_name: &str) -> Result<Self> {
        let metadata: Metadata =
            serde_json::from_slice(metadata).context("cargo metadata's JSON")?;
        let resolve = metadata.resolve.context("cargo metadata gave no resolve")?;
        let packages: BTreeMap<&str, &Package> = metadata
            .packages
            .iter()
            .map(|p| (p.id.as_str(), p))
            .collect();
        let root = metadata
            .packages
            .iter()
            .find(|p| p.name == root_name && metadata.workspace_members.contains(&p.id))
            .with_context(|| format!("no workspace member {root_name}"))?;
        let nodes: BTreeMap<&str, &Node> =
            resolve.nodes.iter().map(|n| (n.id.as_str(), n)).collect();

        // Each reachable package's kind: the strongest way it is reached.
        let mut kinds: BTreeMap<&str, CrateKind> = BTreeMap::new();
        let mut queue = vec![(root.id.as_str(), CrateKind::Runtime)];
        while let Some((id, kind)) = queue.pop() {
            if kinds.get(id).is_some_and(|k| *k >= kind) {
                continue;
            }
            kinds.insert(id, kind);
            let node = nodes
                .get(id)
                .with_context(|| format!("{id} is not in the resolve"))?;
            for dep in &node.deps {
                let Some(edge) = edge_kind(dep) else { continue };
                let target = packages
                    .get(dep.pkg.as_str())
                    .with_context(|| format!("{} is not among the packages", dep.pkg))?;
                let next = if kind == CrateKind::Runtime
                    && edge == CrateKind::Runtime
                    && !target.is_proc_macro()
                {
                    CrateKind::Runtime
                } else {
                    CrateKind::Build
                };
                queue.push((dep.pkg.as_str(), next));
            }
        }

        let checksums = lock_checksums(lock)?;
        let mut ids: Vec<&str> = kinds.keys().copied().collect();
        ids.sort_by_key(|id| {
            let p = packages[id];
            (*id != root.id, p.name.clone(), p.version.clone(), *id)
        });
        let index: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let crates = ids
            .iter()
            .map(|id| {
                let package = packages[id];
                let source = crate_source(package.source.as_deref());
                let mut dependencies: Vec<usize> = nodes[id]
                    .deps
                    .iter()
                    .filter(|d| edge_kind(d).is_some())
                    .filter_map(|d| index.get(d.pkg.as_str()).copied())
                    .collect();
                dependencies.sort_unstable();
                dependencies.dedup();
                Crate {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    checksum: checksums
                        .get(&(
                            package.name.clone(),
                            package.version.clone(),
                            package.source.clone().unwrap_or_default(),
                        ))
                        .cloned(),
                    source,
                    license: package.license.clone(),
                    authors: package.authors.clone(),
                    repository: package.repository.clone(),
                    kind: kinds[id],
                    dependencies,
                    root: *id == root.id,
                }
            })
            .collect();
        Ok(DependencyGraph { crates })
    }

    pub fn root(&self) -> &Crate {
        &self.crates[0]
    }

    /// The crates compiled into the binary, the root first.
    pub fn runtime(&self) -> impl Iterator<Item = (usize, &Crate)> {
        self.crates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == CrateKind::Runtime)
    }
}

/// The kind a dependency edge gives: `None` for a dev-dependency only.
fn edge_kind(dep: &NodeDep) -> Option<CrateKind> {
    let kinds = dep.dep_kinds.iter().map(|k| k.kind.as_deref());
    let mut strongest = None;
    for kind in kinds {
        let this = match kind {
            None | Some("normal") => CrateKind::Runtime,
            Some("build") => CrateKind::Build,
            _ => continue,
        };
        strongest = strongest.max(Some(this));
    }
    strongest
}

/// Cargo's source id (`registry+https://github.com/rust-lang/crates.io-index`,
/// `sparse+https://index.crates.io/`, `git+https://host/repo?rev=x#commit`).
fn crate_source(id: Option<&str>) -> CrateSource {
    let Some(id) = id else {
        return CrateSource::Local;
    };
    match id.split_once('+') {
        Some(("registry", "https://github.com/rust-lang/crates.io-index"))
        | Some(("sparse", "https://index.crates.io/")) => CrateSource::CratesIo,
        Some(("registry" | "sparse", url)) => CrateSource::Registry(url.to_owned()),
        Some(("git", rest)) => {
            let (url, commit) = rest.split_once('#').unwrap_or((rest, ""));
            let url = url.split_once('?').map_or(url, |(u, _)| u);
            CrateSource::Git {
                url: url.to_owned(),
                commit: commit.to_owned(),
            }
        }
        _ => CrateSource::Registry(id.to_owned()),
    }
}

/// `(name, version, source) -> checksum` from Cargo.lock.
fn lock_checksums(lock: &str) -> Result<BTreeMap<(String, String, String), String>> {
    #[derive(Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<LockedPackage>,
    }
    #[derive(Deserialize)]
    struct LockedPackage {
        name: String,
        version: String,
        source: Option<String>,
        checksum: Option<String>,
    }
    let lock: Lock = toml_edit::de::from_str(lock).context("reading Cargo.lock")?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| {
            let checksum = p.checksum?;
            Some(((p.name, p.version, p.source.unwrap_or_default()), checksum))
        })
        .collect())
}

pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Option<Resolve>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    source: Option<String>,
    license: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    repository: Option<String>,
    targets: Vec<Target>,
}

impl Package {
    fn is_proc_macro(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k == "proc-macro"))
    }
}

#[derive(Deserialize)]
struct Target {
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    kind: Option<String>,
}

/// A binary's crates as its `.dep-v0` section lists them (no checksums,
/// licences or authors: the section does not carry them).
pub fn from_auditable(info: &auditable_serde::VersionInfo) -> DependencyGraph {
    let mut order: Vec<usize> = (0..info.packages.len()).collect();
    order.sort_by_key(|&i| (!info.packages[i].root, i));
    let position: BTreeMap<usize, usize> = order
        .iter()
        .enumerate()
        .map(|(new, old)| (*old, new))
        .collect();
    let crates = order
        .iter()
        .map(|&i| {
            let p = &info.packages[i];
            Crate {
                name: p.name.clone(),
                version: p.version.to_string(),
                source: match &p.source {
                    auditable_serde::Source::CratesIo => CrateSource::CratesIo,
                    auditable_serde::Source::Local => CrateSource::Local,
                    auditable_serde::Source::Git => CrateSource::Git {
                        url: String::new(),
                        commit: String::new(),
                    },
                    other => CrateSource::Registry(String::from(other.clone())),
                },
                checksum: None,
                license: None,
                authors: Vec::new(),
                repository: None,
                kind: match p.kind {
                    auditable_serde::DependencyKind::Build => CrateKind::Build,
                    auditable_serde::DependencyKind::Runtime => CrateKind::Runtime,
                },
                dependencies: p
                    .dependencies
                    .iter()
                    .filter_map(|d| position.get(d).copied())
                    .collect(),
                root: p.root,
            }
        })
        .collect();
    DependencyGraph { crates }
}

/// The `.dep-v0` document for a graph (cargo-auditable's format 1).
pub fn to_auditable(graph: &DependencyGraph) -> Result<auditable_serde::VersionInfo> {
    let packages = graph
        .crates
        .iter()
        .map(|c| {
            Ok(auditable_serde::Package {
                name: c.name.clone(),
                version: c
                    .version
                    .parse()
                    .with_context(|| format!("{} has version {}", c.name, c.version))?,
                source: match &c.source {
                    CrateSource::CratesIo => auditable_serde::Source::CratesIo,
                    CrateSource::Registry(_) => auditable_serde::Source::Registry,
                    CrateSource::Git { .. } => auditable_serde::Source::Git,
                    CrateSource::Local => auditable_serde::Source::Local,
                },
                kind: match c.kind {
                    CrateKind::Build => auditable_serde::DependencyKind::Build,
                    CrateKind::Runtime => auditable_serde::DependencyKind::Runtime,
                },
                dependencies: c.dependencies.clone(),
                root: c.root,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let json = serde_json::json!({ "packages": packages, "format": 1 });
    // Through the crate's own parser, which checks one root and no cycles.
    // (From text: the crate's `Source` deserializes from borrowed strings.)
    let info: auditable_serde::VersionInfo = serde_json::from_str(&json.to_string())
        .context("the dependency list is not a valid .dep-v0")?;
    if info.packages.len() != graph.crates.len() {
        bail!("the dependency list lost packages on its way to .dep-v0");
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["itoa", "serde_derive", "cc"]

[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"
"#;

    fn metadata() -> String {
        let registry = "registry+https://github.com/rust-lang/crates.io-index";
        let package = |name: &str, version: &str, source: Option<&str>, kind: &str| {
            serde_json::json!({
                "id": format!("{name}-id"), "name": name, "version": version,
                "source": source, "license": "MIT/Apache-2.0", "authors": [],
                "repository": null, "targets": [{"kind": [kind]}],
            })
        };
        let dep = |name: &str, kind: Option<&str>| serde_json::json!({"pkg": format!("{name}-id"), "dep_kinds": [{"kind": kind}]});
        serde_json::json!({
            "packages": [
                package("app", "0.1.0", None, "bin"),
                package("itoa", "1.0.15", Some(registry), "lib"),
                package("serde_derive", "1.0.0", Some(registry), "proc-macro"),
                package("syn", "2.0.0", Some(registry), "lib"),
                package("cc", "1.2.0", Some(registry), "lib"),
                package("tempfile", "3.0.0", Some(registry), "lib"),
            ],
            "workspace_members": ["app-id"],
            "resolve": {"nodes": [
                {"id": "app-id", "deps": [dep("itoa", None), dep("serde_derive", None),
                    dep("cc", Some("build")), dep("tempfile", Some("dev"))]},
                {"id": "itoa-id", "deps": []},
                {"id": "serde_derive-id", "deps": [dep("syn", None)]},
                {"id": "syn-id", "deps": []},
                {"id": "cc-id", "deps": []},
                {"id": "tempfile-id", "deps": []},
            ]},
        })
        .to_string()
    }

    #[test]
    fn proc_macros_and_build_dependencies_are_build_crates_and_dev_ones_are_left_out() {
        let graph = DependencyGraph::from_metadata(metadata().as_bytes(), LOCK, "app").unwrap();
        let kinds: Vec<(&str, CrateKind)> = graph
            .crates
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("app", CrateKind::Runtime),
                ("cc", CrateKind::Build),
                ("itoa", CrateKind::Runtime),
                ("serde_derive", CrateKind::Build),
                ("syn", CrateKind::Build),
            ]
        );
        assert!(graph.root().root);
        let itoa = &graph.crates[2];
        assert_eq!(itoa.purl(), "pkg:cargo/itoa@1.0.15");
        assert_eq!(
            itoa.checksum.as_deref(),
            Some("4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c")
        );
        let runtime: Vec<&str> = graph.runtime().map(|(_, c)| c.name.as_str()).collect();
        assert_eq!(runtime, ["app", "itoa"]);

        // Through .dep-v0 and back: the same crates, kinds and edges.
        let info = to_auditable(&graph).unwrap();
        assert_eq!(info.format, 1);
        let back = from_auditable(&info);
        let summary = |g: &DependencyGraph| {
            g.crates
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.version.clone(),
                        c.kind,
                        c.dependencies.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&back), summary(&graph));
    }

    #[test]
    fn sources_and_their_purls() {
        assert_eq!(crate_source(None), CrateSource::Local);
        assert_eq!(
            crate_source(Some("sparse+https://index.crates.io/")),
            CrateSource::CratesIo
        );
        let git = crate_source(Some("git+https://github.com/a/b?branch=main#0123abc"));
        assert_eq!(
            git,
            CrateSource::Git {
                url: "https://github.com/a/b".into(),
                commit: "0123abc".into()
            }
        );
        let krate = Crate {
            name: "b".into(),
            version: "0.1.0".into(),
            source: git,
            checksum: None,
            license: None,
            authors: vec![],
            repository: None,
            kind: CrateKind::Runtime,
            dependencies: vec![],
            root: false,
        };
        assert_eq!(
            krate.purl(),
            "pkg:cargo/b@0.1.0?vcs_url=git%2Bhttps%3A//github.com/a/b%400123abc"
        );
    }
}
