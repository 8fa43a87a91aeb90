//! SPDX 2.3 SBOMs of an image: one per platform manifest and one for the
//! index. Each lists the image, the program and every crate compiled into
//! it (with Cargo.lock's checksum and the crate's licence), the sysroot it
//! was linked against and what that sysroot put into the binary (musl with
//! its upstream fixes, mimalloc inside musl's libc.a, libc++ when the
//! program uses it), and what the base layer holds (the CA bundle, time
//! zones).
//!
//! An SBOM says only what fastmusl knows: a field it cannot fill is
//! `NOASSERTION`, and what is missing is said in the document's comment
//! and on stderr. Documents are deterministic (created at
//! `SOURCE_DATE_EPOCH`, namespaced by content), so pushing the same image
//! twice attaches the same SBOM.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use fastmusl_dist::elf::OciPlatform;
use fastmusl_dist::sysroot::SysrootManifest;
use serde_json::{Value, json};

use super::dependencies::{Crate, CrateKind, CrateSource, DependencyGraph};
use super::layer::sha256_digest;

/// The media type SBOM artifacts are attached with.
pub const MEDIA_TYPE: &str = "application/spdx+json";

/// What an image's program is, and where its crates came from.
pub struct Program<'a> {
    /// The crates, the program's package first; `None` when a binary built
    /// before carries no `.dep-v0`.
    pub crates: Option<&'a DependencyGraph>,
    /// The binary's file name (for a binary without a dependency list).
    pub file_name: String,
    pub bytes: &'a [u8],
    /// The sysroot that linked it, when fastmusl built it.
    pub sysroot: Option<(&'a SysrootManifest, String)>,
}

/// What the base layer holds.
pub struct BaseContents {
    /// `Some(version)` when the bundle is `webpki-root-certs`'s, unchanged.
    pub mozilla_roots: Option<String>,
    pub ca_bundle: Vec<u8>,
    /// The tz database's version, when time zones were added.
    pub tzdata: Option<String>,
}

/// One platform image of the SBOM.
pub struct PlatformImage<'a> {
    pub platform: OciPlatform,
    pub manifest_digest: String,
    pub program: Program<'a>,
}

/// The SPDX documents for an image: `(platform, document)` for each
/// manifest, and the index's (all platforms in one) for a
/// multi-architecture image.
pub struct Sboms {
    pub platforms: Vec<(OciPlatform, Vec<u8>)>,
    pub index: Option<Vec<u8>>,
    /// What the documents could not say (crates without licence, packages
    /// without a supplier, binaries without a dependency list).
    pub gaps: Vec<String>,
}

pub struct ImageIdentity<'a> {
    /// The repository's last path component (`hello`).
    pub name: &'a str,
    pub tag: &'a str,
    /// `registry/repository` when pushed, for purls' `repository_url`.
    pub repository_url: Option<String>,
    /// The index digest of a multi-architecture image.
    pub index_digest: Option<&'a str>,
    /// RFC 3339.
    pub created: &'a str,
}

pub fn build(
    identity: &ImageIdentity,
    images: &[PlatformImage],
    base: &BaseContents,
) -> Result<Sboms> {
    let mut gaps = BTreeSet::new();
    let mut platforms = Vec::new();
    let mut index = Document::default();
    let mut index_supplier = None;
    for image in images {
        let mut document = Document::default();
        let (top, supplier) = document.platform_image(identity, image, base, &mut gaps);
        index_supplier = index_supplier.or(supplier);
        document.describe(&top);
        platforms.push((
            image.platform,
            document.finish(
                identity,
                &image.platform.to_string(),
                &image.manifest_digest,
            )?,
        ));
        index.platform_image(identity, image, base, &mut gaps);
    }
    let index = match identity.index_digest {
        Some(digest) => {
            let top = index.package(Package {
                id: "SPDXRef-Image".into(),
                name: identity.name.to_owned(),
                version: identity.tag.to_owned(),
                supplier: index_supplier,
                download: None,
                license: None,
                checksum: None,
                purl: Some(oci_purl(identity, digest, None)),
                cpe: None,
                purpose: "CONTAINER",
                comment: Some("the multi-platform image (OCI index)".into()),
            });
            for image in images {
                index.relate(&top, "CONTAINS", &image_id(&image.platform));
            }
            index.describe(&top);
            Some(index.finish(identity, "index", digest)?)
        }
        None => None,
    };
    Ok(Sboms {
        platforms,
        index,
        gaps: gaps.into_iter().collect(),
    })
}

#[derive(Default)]
struct Document {
    packages: BTreeMap<String, Value>,
    relationships: BTreeSet<(String, String, String)>,
    relationship_comments: BTreeMap<(String, String, String), String>,
    described: Vec<String>,
    comments: BTreeSet<String>,
}

struct Package {
    id: String,
    name: String,
    version: String,
    /// `Person: ...` or `Organization: ...`.
    supplier: Option<String>,
    download: Option<String>,
    /// An SPDX expression, already checked.
    license: Option<String>,
    checksum: Option<String>,
    purl: Option<String>,
    cpe: Option<String>,
    purpose: &'static str,
    comment: Option<String>,
}

impl Document {
    fn package(&mut self, p: Package) -> String {
        let mut refs = Vec::new();
        if let Some(purl) = &p.purl {
            refs.push(json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}));
        }
        if let Some(cpe) = &p.cpe {
            refs.push(json!({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe}));
        }
        let mut value = json!({
            "SPDXID": p.id,
            "name": p.name,
            "versionInfo": p.version,
            "supplier": p.supplier.as_deref().unwrap_or("NOASSERTION"),
            "downloadLocation": p.download.as_deref().unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license.as_deref().unwrap_or("NOASSERTION"),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": p.purpose,
            "externalRefs": refs,
        });
        if let Some(checksum) = &p.checksum {
            value["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": checksum}]);
        }
        if let Some(comment) = &p.comment {
            value["comment"] = json!(comment);
        }
        self.packages.insert(p.id.clone(), value);
        p.id
    }

    fn relate(&mut self, from: &str, kind: &str, to: &str) {
        self.relationships
            .insert((from.to_owned(), kind.to_owned(), to.to_owned()));
    }

    fn relate_with_comment(&mut self, from: &str, kind: &str, to: &str, comment: &str) {
        self.relationship_comments.insert(
            (from.to_owned(), kind.to_owned(), to.to_owned()),
            comment.to_owned(),
        );
        self.relate(from, kind, to);
    }

    fn describe(&mut self, id: &str) {
        self.described.push(id.to_owned());
    }

    /// Adds one platform's image and everything in it; its package id and
    /// supplier.
    fn platform_image(
        &mut self,
        identity: &ImageIdentity,
        image: &PlatformImage,
        base: &BaseContents,
        gaps: &mut BTreeSet<String>,
    ) -> (String, Option<String>) {
        let platform = image.platform.to_string();
        let (program, supplier) = self.program(&image.program, &image.platform, gaps);
        // The image is its program's supplier's.
        let top = self.package(Package {
            id: image_id(&image.platform),
            name: identity.name.to_owned(),
            version: identity.tag.to_owned(),
            supplier: supplier.clone(),
            download: None,
            license: None,
            checksum: None,
            purl: Some(oci_purl(
                identity,
                &image.manifest_digest,
                Some(&image.platform),
            )),
            cpe: None,
            purpose: "CONTAINER",
            comment: Some(format!("the {platform} image")),
        });
        self.relate(&top, "CONTAINS", &program);
        let ca = self.ca_bundle(base);
        self.relate(&top, "CONTAINS", &ca);
        if let Some(version) = &base.tzdata {
            let tz = self.package(Package {
                id: "SPDXRef-tzdata".into(),
                name: "tzdata".into(),
                version: version.clone(),
                supplier: Some("Organization: IANA (https://www.iana.org/time-zones)".into()),
                download: Some("https://www.iana.org/time-zones".into()),
                license: None,
                checksum: None,
                purl: Some(format!("pkg:generic/tzdata@{version}")),
                cpe: None,
                purpose: "OTHER",
                comment: Some("the tz database in /usr/share/zoneinfo".into()),
            });
            self.relate(&top, "CONTAINS", &tz);
        }
        (top, supplier)
    }

    /// The program's package and everything in it; its id and supplier.
    fn program(
        &mut self,
        program: &Program,
        platform: &OciPlatform,
        gaps: &mut BTreeSet<String>,
    ) -> (String, Option<String>) {
        let (root, supplier) = match program.crates {
            Some(graph) => {
                let ids: Vec<Option<String>> = graph
                    .crates
                    .iter()
                    .map(|c| (c.kind == CrateKind::Runtime).then(|| crate_id(c)))
                    .collect();
                for (i, krate) in graph.runtime() {
                    let package = crate_package(krate, gaps);
                    let id = self.package(package);
                    for dep in &krate.dependencies {
                        if let Some(Some(to)) = ids.get(*dep) {
                            self.relate(&id, "DEPENDS_ON", to);
                        }
                    }
                    debug_assert_eq!(Some(&id), ids[i].as_ref());
                }
                (crate_id(graph.root()), crate_supplier(graph.root()))
            }
            None => {
                gaps.insert(format!(
                    "{}: the binary carries no dependency list (.dep-v0), so its crates are \
                     not in the SBOM; build it with `fastmusl image` from its project, or with \
                     `cargo auditable build`",
                    program.file_name
                ));
                self.comments.insert(format!(
                    "{} carries no dependency list (.dep-v0): the crates compiled into it are \
                     not known and not listed.",
                    program.file_name
                ));
                let id = self.package(Package {
                    id: format!("SPDXRef-Program-{}", spdx_id_part(&program.file_name)),
                    name: program.file_name.clone(),
                    version: "NOASSERTION".into(),
                    supplier: None,
                    download: None,
                    license: None,
                    checksum: Some(hex(&sha256_digest(program.bytes))),
                    purl: None,
                    cpe: None,
                    purpose: "APPLICATION",
                    comment: None,
                });
                (id, None)
            }
        };
        match &program.sysroot {
            Some((manifest, manifest_sha256)) => {
                self.sysroot(&root, manifest, manifest_sha256, program.bytes)
            }
            None => {
                self.comments.insert(format!(
                    "The {platform} binary was built before fastmusl image ran: the C library \
                     linked into it is not known and not listed."
                ));
            }
        }
        (root, supplier)
    }

    /// The sysroot and what it put into the program.
    fn sysroot(&mut self, program: &str, manifest: &SysrootManifest, sha256: &str, binary: &[u8]) {
        let triple = &manifest.target;
        let part = spdx_id_part(triple);
        let text = |table: &str, key: &str| -> Option<String> {
            manifest
                .build
                .get(table)?
                .get(key)?
                .as_str()
                .map(str::to_owned)
        };
        let sysroot = self.package(Package {
            id: format!("SPDXRef-Sysroot-{part}"),
            name: format!("fastmusl-sysroot-{triple}"),
            version: manifest.version.clone(),
            supplier: Some("Organization: fastmusl".into()),
            download: None,
            license: None,
            checksum: Some(sha256.to_owned()),
            purl: None,
            cpe: None,
            purpose: "LIBRARY",
            comment: Some(format!(
                "the {} flavor; the checksum is its fastmusl-sysroot.toml's",
                manifest.flavor
            )),
        });
        self.relate(&sysroot, "BUILD_TOOL_OF", program);
        // The same fact from the program's side, so that the sysroot is in
        // the tree below the image: SPDX 2.3's example of HAS_PREREQUISITE
        // is a kernel that has binutils as a prerequisite.
        self.relate_with_comment(
            program,
            "HAS_PREREQUISITE",
            &sysroot,
            "built and linked with this sysroot",
        );

        let fixes: Vec<String> = manifest
            .build
            .get("musl")
            .and_then(|m| m.get("upstream_fixes"))
            .and_then(|f| f.as_array())
            .map(|fixes| {
                fixes
                    .iter()
                    .filter_map(|f| {
                        let commit = f.get("commit")?.as_str()?;
                        let subject = f.get("subject")?.as_str()?;
                        Some(format!("{} {subject}", &commit[..commit.len().min(12)]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let patches: Vec<String> = manifest
            .build
            .get("patches")
            .and_then(|p| p.as_array())
            .map(|p| {
                p.iter()
                    .filter_map(|p| Some(p.get("path")?.as_str()?.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let patches_of = |dir: &str| -> String {
            patches
                .iter()
                .filter(|p| p.starts_with(dir))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(version) = text("musl", "version") {
            let url = manifest
                .build
                .get("musl")
                .and_then(|m| m.get("urls")?.as_array()?.first()?.as_str())
                .map(str::to_owned);
            let musl = self.package(Package {
                id: format!("SPDXRef-musl-{part}"),
                name: "musl".into(),
                version: version.clone(),
                supplier: Some("Organization: musl libc (https://musl.libc.org)".into()),
                download: url.clone(),
                license: Some("MIT".into()),
                checksum: text("musl", "archive_sha256"),
                purl: Some(match &url {
                    Some(url) => format!(
                        "pkg:generic/musl@{version}?download_url={}",
                        super::dependencies::percent_encode(url)
                    ),
                    None => format!("pkg:generic/musl@{version}"),
                }),
                cpe: Some(format!("cpe:2.3:a:musl-libc:musl:{version}:*:*:*:*:*:*:*")),
                purpose: "LIBRARY",
                comment: Some(format!(
                    "libc.a for {triple}: the release tarball (checksum) with {} upstream fixes \
                     from git.musl-libc.org applied ({}), then fastmusl's patches ({}); mimalloc \
                     replaces its allocator",
                    fixes.len(),
                    fixes.join("; "),
                    patches_of("musl/")
                )),
            });
            self.relate(program, "STATIC_LINK", &musl);
            self.relate(&sysroot, "CONTAINS", &musl);
            if let Some(version) = text("mimalloc", "version") {
                let mimalloc = self.package(Package {
                    id: format!("SPDXRef-mimalloc-{part}"),
                    name: "mimalloc".into(),
                    version: version.clone(),
                    supplier: Some("Organization: Microsoft Corporation".into()),
                    download: Some(format!(
                        "https://github.com/microsoft/mimalloc/archive/refs/tags/v{version}.tar.gz"
                    )),
                    license: Some("MIT".into()),
                    checksum: None,
                    purl: Some(format!("pkg:github/microsoft/mimalloc@v{version}")),
                    cpe: Some(format!(
                        "cpe:2.3:a:microsoft:mimalloc:{version}:*:*:*:*:*:*:*"
                    )),
                    purpose: "LIBRARY",
                    comment: Some(format!(
                        "built into musl's libc.a as its allocator, with fastmusl's patches \
                         ({}); source tree sha256 {}",
                        patches_of("mimalloc/"),
                        text("mimalloc", "tree_sha256").unwrap_or_default()
                    )),
                });
                self.relate(&musl, "CONTAINS", &mimalloc);
            }
        }
        if let Some(version) = text("llvm_runtimes", "version")
            && uses_libcxx(binary)
        {
            let libcxx = self.package(Package {
                id: format!("SPDXRef-libcxx-{part}"),
                name: "libc++".into(),
                version: version.clone(),
                supplier: Some("Organization: LLVM Project (https://llvm.org)".into()),
                download: Some(format!(
                    "https://github.com/llvm/llvm-project/releases/tag/llvmorg-{version}"
                )),
                license: Some("Apache-2.0 WITH LLVM-exception".into()),
                checksum: None,
                purl: Some(format!("pkg:generic/llvm-project/libcxx@{version}")),
                cpe: Some(format!("cpe:2.3:a:llvm:libc\\+\\+:{version}:*:*:*:*:*:*:*")),
                purpose: "LIBRARY",
                comment: Some(format!(
                    "libc++ and libc++abi, listed because the binary holds libc++'s symbols \
                     (std::__1); source tree sha256 {}",
                    text("llvm_runtimes", "tree_sha256").unwrap_or_default()
                )),
            });
            self.relate(program, "STATIC_LINK", &libcxx);
            self.relate(&sysroot, "CONTAINS", &libcxx);
        }
    }

    fn ca_bundle(&mut self, base: &BaseContents) -> String {
        let checksum = Some(hex(&sha256_digest(&base.ca_bundle)));
        match &base.mozilla_roots {
            Some(version) => self.package(Package {
                id: "SPDXRef-CA-bundle".into(),
                name: "webpki-root-certs".into(),
                version: version.clone(),
                supplier: Some("Organization: rustls (https://github.com/rustls)".into()),
                download: Some(format!(
                    "https://crates.io/api/v1/crates/webpki-root-certs/{version}/download"
                )),
                license: Some("CDLA-Permissive-2.0".into()),
                checksum,
                purl: Some(format!("pkg:cargo/webpki-root-certs@{version}")),
                cpe: None,
                purpose: "FILE",
                comment: Some(format!(
                    "Mozilla's root certificates as /etc/ssl/certs/ca-certificates.crt (the \
                     checksum is that file's), from the webpki-root-certs crate {version} \
                     inside fastmusl"
                )),
            }),
            None => self.package(Package {
                id: "SPDXRef-CA-bundle".into(),
                name: "ca-certificates".into(),
                version: "NOASSERTION".into(),
                supplier: None,
                download: None,
                license: None,
                checksum,
                purl: None,
                cpe: None,
                purpose: "FILE",
                comment: Some(
                    "the CA bundle given by --ca-bundle/--ca-file, as \
                     /etc/ssl/certs/ca-certificates.crt"
                        .into(),
                ),
            }),
        }
    }

    fn finish(mut self, identity: &ImageIdentity, part: &str, digest: &str) -> Result<Vec<u8>> {
        let mut relationships: Vec<Value> = self
            .described
            .iter()
            .map(|id| {
                json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": id})
            })
            .collect();
        for key in std::mem::take(&mut self.relationships) {
            let mut relationship = json!({"spdxElementId": key.0, "relationshipType": key.1, "relatedSpdxElement": key.2});
            if let Some(comment) = self.relationship_comments.get(&key) {
                relationship["comment"] = json!(comment);
            }
            relationships.push(relationship);
        }
        let mut document = json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": format!("{}:{} {part}", identity.name, identity.tag),
            "documentNamespace": format!(
                "https://spdx.org/spdxdocs/fastmusl-image/{}-{}-{}",
                spdx_id_part(identity.name),
                spdx_id_part(part),
                hex(digest)
            ),
            "creationInfo": {
                "created": identity.created,
                "creators": [
                    format!("Tool: fastmusl-{}", env!("CARGO_PKG_VERSION")),
                    "Organization: fastmusl",
                ],
            },
            "documentDescribes": self.described,
            "packages": self.packages.into_values().collect::<Vec<_>>(),
            "relationships": relationships,
        });
        if !self.comments.is_empty() {
            document["comment"] = json!(self.comments.into_iter().collect::<Vec<_>>().join(" "));
        }
        let mut bytes = serde_json::to_vec_pretty(&document)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

fn crate_package(krate: &Crate, gaps: &mut BTreeSet<String>) -> Package {
    let license = krate.license.as_deref().and_then(spdx_expression);
    if license.is_none() {
        gaps.insert(format!(
            "{} {}: {}",
            krate.name,
            krate.version,
            match &krate.license {
                Some(text) => format!("its licence `{text}` is not an SPDX expression"),
                None => "it declares no licence (or only a licence file)".into(),
            }
        ));
    }
    let supplier = crate_supplier(krate);
    if supplier.is_none() {
        gaps.insert(format!(
            "{} {}: no supplier (set `authors` or `repository` in its Cargo.toml)",
            krate.name, krate.version
        ));
    }
    let download = match &krate.source {
        CrateSource::CratesIo => Some(format!(
            "https://crates.io/api/v1/crates/{}/{}/download",
            krate.name, krate.version
        )),
        CrateSource::Git { url, commit } if !url.is_empty() => Some(format!("git+{url}@{commit}")),
        _ => krate.repository.clone().filter(|_| krate.root),
    };
    Package {
        id: crate_id(krate),
        name: krate.name.clone(),
        version: krate.version.clone(),
        supplier,
        download,
        license,
        checksum: krate.checksum.clone(),
        purl: Some(krate.purl()),
        cpe: None,
        purpose: if krate.root { "APPLICATION" } else { "LIBRARY" },
        comment: None,
    }
}

/// The crate's first author, else its repository's owner, else (for
/// crates.io) crates.io, which published it.
fn crate_supplier(krate: &Crate) -> Option<String> {
    if let Some(author) = krate.authors.first() {
        return Some(format!("Person: {}", spdx_actor(author)));
    }
    if let Some(owner) = krate.repository.as_deref().and_then(repository_owner) {
        return Some(format!("Organization: {owner}"));
    }
    (krate.source == CrateSource::CratesIo).then(|| "Organization: crates.io".to_owned())
}

/// `Name <mail>` (cargo's form) → `Name (mail)` (SPDX's).
fn spdx_actor(author: &str) -> String {
    match author.split_once('<') {
        Some((name, mail)) => format!(
            "{} ({})",
            name.trim(),
            mail.trim_end().trim_end_matches('>').trim()
        ),
        None => author.trim().to_owned(),
    }
}

/// `https://github.com/serde-rs/json` → `serde-rs (https://github.com/serde-rs)`.
fn repository_owner(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let mut parts = rest.trim_end_matches('/').split('/');
    let host = parts.next()?;
    let owner = parts.next().filter(|o| !o.is_empty())?;
    Some(format!("{owner} (https://{host}/{owner})"))
}

/// A crate's `license` as a valid SPDX expression (`MIT/Apache-2.0` is
/// cargo's older spelling of `MIT OR Apache-2.0`), or `None`.
pub fn spdx_expression(text: &str) -> Option<String> {
    let canonical = match spdx::Expression::canonicalize(text) {
        Ok(Some(canonical)) => canonical,
        Ok(None) => text.to_owned(),
        Err(_) => return None,
    };
    spdx::Expression::parse(&canonical).ok()?;
    Some(canonical)
}

fn crate_id(krate: &Crate) -> String {
    let mut id = format!(
        "SPDXRef-Crate-{}-{}",
        spdx_id_part(&krate.name),
        spdx_id_part(&krate.version)
    );
    if !matches!(krate.source, CrateSource::CratesIo | CrateSource::Local) {
        // Another registry or git: its origin tells apart a same-named crate.
        id.push('-');
        id.push_str(&hex(&sha256_digest(krate.purl().as_bytes()))[..12]);
    }
    id
}

fn image_id(platform: &OciPlatform) -> String {
    format!("SPDXRef-Image-{}", spdx_id_part(&platform.to_string()))
}

fn oci_purl(identity: &ImageIdentity, digest: &str, platform: Option<&OciPlatform>) -> String {
    let mut qualifiers = Vec::new();
    if let Some(platform) = platform {
        qualifiers.push(format!("arch={}", platform.architecture));
        if let Some(variant) = platform.variant {
            qualifiers.push(format!("variant={variant}"));
        }
    }
    if let Some(url) = &identity.repository_url {
        qualifiers.push(format!(
            "repository_url={}",
            super::dependencies::percent_encode(url)
        ));
    }
    qualifiers.push(format!("tag={}", identity.tag));
    format!(
        "pkg:oci/{}@{}?{}",
        identity.name.to_ascii_lowercase(),
        digest.replace(':', "%3A"),
        qualifiers.join("&")
    )
}

/// Letters, digits, `.` and `-`: what an SPDX id may hold.
fn spdx_id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn hex(digest: &str) -> String {
    super::oci::hex_of(digest).to_owned()
}

/// Whether libc++ is linked in: its inline namespace `std::__1` is in
/// every libc++ symbol and type name (`NSt3__1`), and in no Rust or C one.
fn uses_libcxx(binary: &[u8]) -> bool {
    binary.windows(7).any(|w| w == b"NSt3__1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_become_spdx_expressions_or_nothing() {
        assert_eq!(
            spdx_expression("MIT/Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            spdx_expression("Apache-2.0 WITH LLVM-exception").as_deref(),
            Some("Apache-2.0 WITH LLVM-exception")
        );
        assert_eq!(spdx_expression("see LICENSE file"), None);
    }

    #[test]
    fn suppliers_from_authors_or_repository() {
        assert_eq!(
            spdx_actor("Jane Doe <jane@example.org>"),
            "Jane Doe (jane@example.org)"
        );
        assert_eq!(
            repository_owner("https://github.com/serde-rs/json").as_deref(),
            Some("serde-rs (https://github.com/serde-rs)")
        );
        assert_eq!(repository_owner("https://example.org"), None);
    }
}
