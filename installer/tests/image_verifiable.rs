//! What `fastmusl image` says an image is made of, checked by the tools
//! platform teams run. The fixture `cpp-user` (cxx: runtime crates, a
//! proc-macro, build dependencies, C++ through libc++) is built for
//! linux/amd64 and linux/arm64 and pushed to `docker-registry` on
//! loopback, which has no referrers API:
//!
//! - every SBOM passes `pyspdxtools -i` (SPDX 2.3) and `sbomcheck -c ntia`
//!   (NTIA's minimum elements);
//! - `syft` and `trivy`, reading the pushed image (its binaries' `.dep-v0`),
//!   list the same `pkg:cargo` packages as fastmusl's SBOM of that
//!   platform, and `trivy --sbom-sources oci` finds the attached SBOM
//!   through the referrers tag;
//! - a second push adds no referrer twice;
//! - a binary built before carries its `.dep-v0` into the SBOM, and one
//!   without is named as such;
//! - with `--sign-key`, the cosign-format signatures of the index and of
//!   each manifest verify with `openssl dgst -sha256 -verify` on their
//!   payloads, which name those digests; the provenance's DSSE envelope
//!   verifies with securesystemslib; `fastmusl image verify` accepts the
//!   image and refuses a wrong key, a tampered manifest, a tampered
//!   payload and a signature moved to another image, each of which the
//!   independent checks refuse too.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use common::containers::{Registry, path_str, run_ok};
use common::{AARCH64, Sandbox, X86_64, text};
use serde_json::Value;

/// A sandbox with both targets installed (nothing here reads the
/// channel again, so the dist server goes).
fn world() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::with_targets(&[X86_64, AARCH64]).0)
}

/// The cpp-user fixture with what a published package says of itself,
/// copied once: the tests share its target directory (cargo's lock keeps
/// their builds apart) and write their outputs under names of their own.
fn project(sandbox: &Sandbox) -> PathBuf {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| copy_project(sandbox)).clone()
}

fn copy_project(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.project("cpp-user");
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "edition = ",
        "license = \"MIT\"\nrepository = \"https://example.com/acme/cpp-user\"\n\
         authors = [\"Ada Example <ada@example.com>\"]\nedition = ",
    );
    std::fs::write(&manifest, text).unwrap();
    dir
}

fn image_in(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = sandbox.image_command(args);
    cmd.current_dir(dir).env("SOURCE_DATE_EPOCH", "1780000000");
    cmd.output().unwrap()
}

fn image_json(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> (Value, String) {
    let mut args = args.to_vec();
    args.push("--json");
    let out = image_in(sandbox, dir, &args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        text(&out.stderr),
    )
}

/// The blob an OCI layout holds under `digest`.
fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
}

/// The SBOM document an attachment's manifest names.
fn sbom_of(layout: &Path, attachment: &Value) -> Value {
    let manifest: Value =
        serde_json::from_slice(&layout_blob(layout, attachment["digest"].as_str().unwrap()))
            .unwrap();
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    assert_eq!(manifest["subject"]["digest"], attachment["subject"]);
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/spdx+json");
    serde_json::from_slice(&layout_blob(layout, layer["digest"].as_str().unwrap())).unwrap()
}

/// The `pkg:cargo/NAME@VERSION` purls of an SPDX document's crates.
fn cargo_purls_in_spdx(document: &Value) -> BTreeSet<String> {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_owned))
        .filter(|purl| purl.starts_with("pkg:cargo/") && !purl.contains("webpki-root-certs"))
        .map(|purl| purl.split('?').next().unwrap().to_owned())
        .collect()
}

/// `pyspdxtools -i` (SPDX 2.3 validation; it exits 0 even when it finds
/// issues, so its log is read) and `sbomcheck` (NTIA minimum elements).
fn assert_valid_spdx_and_ntia(file: &Path) {
    let out = run_ok(Command::new("pyspdxtools").arg("-i").arg(file));
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !log.contains("issues") && !log.contains("ERROR"),
        "pyspdxtools -i {}: {log}",
        file.display()
    );
    let out = run_ok(Command::new("sbomcheck").args(["-c", "ntia"]).arg(file));
    let report = text(&out.stdout);
    assert!(report.contains("Conformant: True"), "{report}");
    assert!(!report.contains("floating"), "{report}");
}

/// The `pkg:cargo` purls syft finds in `source` (`registry:...`, `oci-dir:...`).
fn syft_cargo_purls(source: &str, platform: Option<&str>) -> BTreeSet<String> {
    let out = run_ok(
        Command::new("syft")
            .args(["scan", source, "-o", "json", "-q"])
            .args(platform.map(|p| ["--platform", p]).into_iter().flatten())
            .env("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false"),
    );
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    found["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["purl"].as_str())
        .filter(|p| p.starts_with("pkg:cargo/"))
        .map(str::to_owned)
        .collect()
}

/// trivy's SPDX report of a pushed image (and its log).
fn trivy_report(reference: &str, platform: &str, extra: &[&str]) -> (Value, String) {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(
        Command::new("trivy")
            .args(["image", "--format", "spdx-json", "--platform", platform])
            .args(["--cache-dir", path_str(cache.path())])
            .args(extra)
            .arg(reference)
            .env("TRIVY_INSECURE", "true")
            .env("TRIVY_NON_SSL", "true"),
    );
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        text(&out.stderr),
    )
}

fn package<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in {document:#}"))
}

#[test]
fn sboms_validate_and_name_the_crates_scanners_find_in_the_binaries() {
    let sandbox = world();
    let project = project(sandbox);
    let registry = Registry::start("");
    let reference = format!("{}/acme/cpp-user:v1", registry.host);
    let layout = project.join("layout");
    let args = [
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        &reference,
        "--oci-dir",
        path_str(&layout),
    ];
    let started = Instant::now();
    let (summary, _) = image_json(sandbox, &project, &args);
    let first_push = started.elapsed();
    let attachments = summary["attachments"].as_array().unwrap();
    let whats: Vec<&str> = attachments
        .iter()
        .map(|a| a["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        [
            "the SBOM of linux/amd64",
            "the SBOM of linux/arm64/v8",
            "the SBOM of the index"
        ]
    );
    assert_eq!(summary["pushed"]["referrers_added"], 3);
    // The layout keeps the referrers tags too, each listing its SBOM.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    for attachment in attachments {
        let tag = attachment["subject"].as_str().unwrap().replace(':', "-");
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
            .unwrap_or_else(|| panic!("no {tag} in {index:#}"));
        let referrers: Value =
            serde_json::from_slice(&layout_blob(&layout, entry["digest"].as_str().unwrap()))
                .unwrap();
        assert_eq!(referrers["manifests"][0]["digest"], attachment["digest"]);
    }

    let checked = tempfile::tempdir().unwrap();
    for (attachment, platform) in attachments.iter().zip(["linux/amd64", "linux/arm64", ""]) {
        let sbom = sbom_of(&layout, attachment);
        let file = checked.path().join("sbom.spdx.json");
        std::fs::write(&file, serde_json::to_vec(&sbom).unwrap()).unwrap();
        assert_valid_spdx_and_ntia(&file);
        eprintln!(
            "{}: {} bytes, {} packages",
            attachment["what"],
            attachment["size"],
            sbom["packages"].as_array().unwrap().len()
        );

        // The crates in the binary, as fastmusl's SBOM lists them: the
        // runtime ones only (no proc-macro, no build dependency).
        let crates = cargo_purls_in_spdx(&sbom);
        assert!(
            crates.contains("pkg:cargo/cxx@1.0.205")
                || crates.iter().any(|c| c.starts_with("pkg:cargo/cxx@")),
            "{crates:?}"
        );
        assert!(
            !crates
                .iter()
                .any(|c| c.contains("cxxbridge-macro") || c.contains("/cc@")),
            "{crates:?}"
        );
        let cxx = package(&sbom, "cxx");
        assert_eq!(cxx["licenseDeclared"], "MIT OR Apache-2.0");
        assert_eq!(cxx["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            package(&sbom, "cpp-user")["supplier"],
            "Person: Ada Example (ada@example.com)"
        );
        // What the sysroot put in: musl with its fixes, mimalloc, libc++.
        let musl = package(&sbom, "musl");
        assert_eq!(musl["versionInfo"], "1.2.6");
        assert!(musl["comment"].as_str().unwrap().contains("upstream fixes"));
        assert_eq!(package(&sbom, "mimalloc")["versionInfo"], "3.4.3");
        assert_eq!(package(&sbom, "libc++")["versionInfo"], "19.1.7");
        assert!(package(&sbom, "webpki-root-certs")["checksums"][0]["checksumValue"].is_string());
        if platform.is_empty() {
            continue;
        }

        // syft and trivy, reading the pushed image, find the same crates.
        let from_registry = format!("registry:{reference}");
        assert_eq!(
            syft_cargo_purls(&from_registry, Some(platform)),
            crates,
            "syft, {platform}"
        );
        let (report, _) = trivy_report(&reference, platform, &[]);
        assert_eq!(cargo_purls_in_spdx(&report), crates, "trivy, {platform}");
    }

    // trivy finds the attached SBOM through the referrers tag, and then
    // reports what only it says: musl and mimalloc.
    let (report, log) = trivy_report(&reference, "linux/arm64", &["--sbom-sources", "oci"]);
    eprintln!("trivy --sbom-sources oci: {log}");
    let purls: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_owned))
        .collect();
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:generic/musl@1.2.6")),
        "{log}\n{purls:?}"
    );

    // Again: the same image and SBOMs, and no referrer listed twice.
    let started = Instant::now();
    let (again, _) = image_json(sandbox, &project, &args);
    eprintln!(
        "first push {:.1} s, second {:.1} s",
        first_push.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(again["digest"], summary["digest"]);
    assert_eq!(again["attachments"], summary["attachments"]);
    assert_eq!(again["pushed"]["referrers_added"], 0);
    // What the SBOMs add to a push (build done, fresh repositories), for
    // the record.
    let timed = |repository: &str, extra: &[&str]| {
        let target = format!("{}/acme/{repository}:v1", registry.host);
        let mut args = vec!["--platform", "linux/amd64,linux/arm64", "--push", &target];
        args.extend(extra);
        let started = Instant::now();
        image_json(sandbox, &project, &args);
        started.elapsed().as_secs_f64()
    };
    eprintln!(
        "push of the built image to a fresh repository: {:.2} s with --no-sbom, {:.2} s with SBOMs",
        timed("plain", &["--no-sbom"]),
        timed("described", &[])
    );
    for attachment in attachments {
        let subject = attachment["subject"].as_str().unwrap();
        let tag = format!(
            "{}:{}",
            reference.rsplit_once(':').unwrap().0,
            subject.replace(':', "-")
        );
        let out = run_ok(
            Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                .arg(format!("docker://{tag}")),
        );
        let index: Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed: Vec<&Value> = index["manifests"].as_array().unwrap().iter().collect();
        assert_eq!(listed.len(), 1, "{index:#}");
        assert_eq!(listed[0]["digest"], attachment["digest"]);
        assert_eq!(listed[0]["artifactType"], "application/spdx+json");
    }
}

/// An attachment that cannot be attached (the referrers tag of the amd64
/// manifest holds something that is not an index) leaves the image pushed
/// and tagged, and the error names every attachment that is missing.
#[test]
fn a_failed_attachment_names_what_is_missing_and_the_image_stays_pushed() {
    let sandbox = world();
    let project = project(sandbox);
    let registry = Registry::start("");
    let reference = format!("{}/acme/broken:v1", registry.host);
    let platforms = [
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        &reference,
    ];
    let mut plain = platforms.to_vec();
    plain.push("--no-sbom");
    let (first, _) = image_json(sandbox, &project, &plain);
    let amd64 = first["manifests"]["linux/amd64"].as_str().unwrap();
    let raw = Raw {
        host: &registry.host,
        repository: "acme/broken",
    };
    let not_an_index = raw.manifest(amd64);
    raw.put_manifest(
        &amd64.replace(':', "-"),
        &not_an_index,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let out = image_in(sandbox, &project, &platforms);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{reference} is pushed ({})",
            first["digest"].as_str().unwrap()
        )) && stderr.contains(
            "missing the SBOM of linux/amd64, the SBOM of linux/arm64/v8, the SBOM of the index"
        ),
        "{stderr}"
    );
    assert!(registry.tags("acme/broken").contains(&"v1".to_owned()));
}

/// Binaries built before: one built by `fastmusl image` carries its
/// `.dep-v0` (read back into the SBOM), one without the section is named.
#[test]
fn a_binary_s_own_dependency_list_goes_into_the_sbom_and_its_absence_is_said() {
    let sandbox = world();
    let project = project(sandbox);
    let layout = project.join("built");
    let (built, _) = image_json(
        sandbox,
        &project,
        &["--platform", "linux/amd64", "--oci-dir", path_str(&layout)],
    );
    let built_sbom = sbom_of(&layout, &built["attachments"][0]);
    let binary = project.join("target").join(X86_64).join("release/cpp-user");
    assert_eq!(
        syft_cargo_purls(&format!("file:{}", binary.display()), None),
        cargo_purls_in_spdx(&built_sbom)
    );

    let prebuilt = project.join("prebuilt");
    let (summary, _) = image_json(
        sandbox,
        &project,
        &[
            "--bin",
            path_str(&binary),
            "--tag",
            "cpp-user:v1",
            "--oci-dir",
            path_str(&prebuilt),
        ],
    );
    let sbom = sbom_of(&prebuilt, &summary["attachments"][0]);
    assert_eq!(cargo_purls_in_spdx(&sbom), cargo_purls_in_spdx(&built_sbom));
    assert!(
        sbom["comment"].as_str().unwrap().contains("C library"),
        "{sbom:#}"
    );

    let stripped = project.join("stripped/cpp-user");
    std::fs::create_dir_all(stripped.parent().unwrap()).unwrap();
    run_ok(
        Command::new("llvm-objcopy")
            .args(["--remove-section", ".dep-v0"])
            .arg(&binary)
            .arg(&stripped),
    );
    let out = image_in(
        sandbox,
        &project,
        &[
            "--bin",
            path_str(&stripped),
            "--tag",
            "cpp-user:v1",
            "--oci-dir",
            path_str(&project.join("bare")),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("carries no dependency list (.dep-v0)"),
        "{}",
        text(&out.stderr)
    );
}

/// A small registry client for what the tests do behind fastmusl's back.
struct Raw<'a> {
    host: &'a str,
    repository: &'a str,
}

impl Raw<'_> {
    fn url(&self, what: &str) -> String {
        format!("http://{}/v2/{}/{what}", self.host, self.repository)
    }

    fn manifest(&self, reference: &str) -> Vec<u8> {
        let response = ureq::get(&self.url(&format!("manifests/{reference}")))
            .set(
                "Accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            )
            .call()
            .unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).unwrap();
        bytes
    }

    fn put_manifest(&self, reference: &str, bytes: &[u8], media_type: &str) {
        ureq::put(&self.url(&format!("manifests/{reference}")))
            .set("Content-Type", media_type)
            .send_bytes(bytes)
            .unwrap();
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut ureq::get(&self.url(&format!("blobs/{digest}")))
                .call()
                .unwrap()
                .into_reader(),
            &mut bytes,
        )
        .unwrap();
        bytes
    }

    fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let started = ureq::post(&self.url("blobs/uploads/"))
            .send_bytes(&[])
            .unwrap();
        let location = started.header("Location").unwrap().to_owned();
        let location = if location.starts_with('/') {
            format!("http://{}{location}", self.host)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{location}{separator}digest={digest}"))
            .send_bytes(bytes)
            .unwrap();
        digest
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// `openssl dgst -sha256 -verify PUB -signature SIG PAYLOAD`'s verdict.
fn openssl_verifies(public_key: &Path, payload: &[u8], signature_b64: &str) -> bool {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let (payload_file, signature_file) = (dir.path().join("payload"), dir.path().join("sig"));
    std::fs::write(&payload_file, payload).unwrap();
    std::fs::write(
        &signature_file,
        base64::engine::general_purpose::STANDARD
            .decode(signature_b64)
            .unwrap(),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_key)
        .arg("-signature")
        .arg(&signature_file)
        .arg(&payload_file)
        .output()
        .unwrap();
    out.status.success() && text(&out.stdout).contains("Verified OK")
}

/// securesystemslib's verdict on a DSSE envelope: the statement, or why not.
fn securesystemslib_opens(envelope: &[u8], public_key: &Path) -> Result<Value, String> {
    const SCRIPT: &str = r#"
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
found = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[2], "rb").read()))
# cosign's envelopes name no key (keyid ""), so the key is given that id.
key = SSlibKey("", found.keytype, found.scheme, found.keyval)
envelope = Envelope.from_dict(json.load(open(sys.argv[1])))
envelope.verify([key], 1)
sys.stdout.write(envelope.payload.decode())
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envelope.json");
    std::fs::write(&file, envelope).unwrap();
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(&file)
        .arg(public_key)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(text(&out.stderr))
    }
}

/// The simple-signing payloads under `sha256-<hex>.sig`, with their
/// signatures.
fn cosign_signatures(raw: &Raw, digest: &str) -> Vec<(Vec<u8>, String)> {
    let manifest: Value =
        serde_json::from_slice(&raw.manifest(&format!("{}.sig", digest.replace(':', "-"))))
            .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(
                l["mediaType"],
                "application/vnd.dev.cosign.simplesigning.v1+json"
            );
            (
                raw.blob(l["digest"].as_str().unwrap()),
                l["annotations"]["dev.cosignproject.cosign/signature"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

fn payload_digest(payload: &[u8]) -> String {
    let payload: Value = serde_json::from_slice(payload).unwrap();
    payload["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn signatures_and_provenance_verify_and_forgeries_are_refused() {
    let sandbox = world();
    let project = project(sandbox);
    let registry = Registry::start("");
    let keys = tempfile::tempdir().unwrap();
    let keygen = |name: &str| {
        let prefix = keys.path().join(name);
        let out = image_in(
            sandbox,
            &project,
            &["keygen", "--output-key-prefix", path_str(&prefix)],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        (prefix.with_extension("key"), prefix.with_extension("pub"))
    };
    let (key, public) = keygen("release");
    let (_, stranger) = keygen("stranger");
    let reference = format!("{}/acme/signed:v1", registry.host);
    let args = [
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        &reference,
        "--sign-key",
        path_str(&key),
    ];
    let started = Instant::now();
    let (summary, _) = image_json(sandbox, &project, &args);
    eprintln!("signed push: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(summary["pushed"]["signatures_added"], 4, "{summary:#}");
    let index = summary["digest"].as_str().unwrap().to_owned();
    let manifests: Vec<String> = summary["manifests"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let raw = Raw {
        host: &registry.host,
        repository: "acme/signed",
    };

    // openssl: each payload names its digest, and its signature verifies
    // with the key and not with another.
    for digest in std::iter::once(&index).chain(&manifests) {
        let signatures = cosign_signatures(&raw, digest);
        assert_eq!(signatures.len(), 1);
        let (payload, signature) = &signatures[0];
        assert_eq!(payload_digest(payload), *digest);
        assert!(openssl_verifies(&public, payload, signature));
        assert!(!openssl_verifies(&stranger, payload, signature));
    }
    // securesystemslib: the provenance's envelope, and what it says.
    let att: Value =
        serde_json::from_slice(&raw.manifest(&format!("{}.att", index.replace(':', "-")))).unwrap();
    let layer = &att["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(
        layer["annotations"]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    let envelope = raw.blob(layer["digest"].as_str().unwrap());
    let statement = securesystemslib_opens(&envelope, &public).unwrap();
    assert!(securesystemslib_opens(&envelope, &stranger).is_err());
    let mut tampered_envelope: Value = serde_json::from_slice(&envelope).unwrap();
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut forged: Value = statement.clone();
        forged["predicate"]["runDetails"]["builder"]["id"] = "https://evil.example".into();
        tampered_envelope["payload"] = b64.encode(forged.to_string()).into();
    }
    assert!(securesystemslib_opens(tampered_envelope.to_string().as_bytes(), &public).is_err());
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects: BTreeSet<String> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("sha256:{}", s["digest"]["sha256"].as_str().unwrap()))
        .collect();
    let built: BTreeSet<String> = std::iter::once(index.clone())
        .chain(manifests.clone())
        .collect();
    assert_eq!(subjects, built);
    let dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let lock = std::fs::read(project.join("Cargo.lock")).unwrap();
    let lock_sha256 = sha256(&lock);
    assert!(dependencies.iter().any(|d| d["name"] == "Cargo.lock"
        && format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap()) == lock_sha256));
    for triple in [X86_64, AARCH64] {
        let installed = std::fs::read_dir(sandbox.fastmusl_home().join("sysroots"))
            .unwrap()
            .map(|v| v.unwrap().path().join(triple).join("fastmusl-sysroot.toml"))
            .find(|p| p.is_file())
            .unwrap();
        let hash = sha256(&std::fs::read(installed).unwrap());
        assert!(
            dependencies
                .iter()
                .any(|d| d["name"] == format!("fastmusl-sysroot-{triple}")
                    && format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap()) == hash),
            "{dependencies:#?}"
        );
    }
    let command = &statement["predicate"]["buildDefinition"]["externalParameters"]["command"];
    assert!(
        command
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--sign-key"),
        "{command}"
    );

    let verify = |reference: &str, key: &Path| {
        image_in(
            sandbox,
            &project,
            &["verify", reference, "--key", path_str(key)],
        )
    };
    let out = verify(&reference, &public);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("3 signatures and the SLSA provenance"),
        "{}",
        text(&out.stderr)
    );

    // A second signed push adds nothing.
    let (again, _) = image_json(sandbox, &project, &args);
    assert_eq!(again["pushed"]["signatures_added"], 0);
    assert_eq!(cosign_signatures(&raw, &index).len(), 1);

    // A wrong key.
    let out = verify(&reference, &stranger);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not verify with the key"),
        "{}",
        text(&out.stderr)
    );

    // A signature moved to another image: an unsigned image whose .sig is
    // a copy of the signed index's.
    let other = format!("{}/acme/signed:other", registry.host);
    let (unsigned, _) = image_json(
        sandbox,
        &project,
        &["--platform", "linux/amd64", "--push", &other],
    );
    let other_digest = unsigned["digest"].as_str().unwrap();
    let moved = raw.manifest(&format!("{}.sig", index.replace(':', "-")));
    raw.put_manifest(
        &format!("{}.sig", other_digest.replace(':', "-")),
        &moved,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let out = verify(&other, &public);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("a signature of another image"),
        "{}",
        text(&out.stderr)
    );
    let (payload, signature) = &cosign_signatures(&raw, other_digest)[0];
    assert!(
        openssl_verifies(&public, payload, signature),
        "the moved signature is genuine"
    );
    assert_ne!(
        payload_digest(payload),
        other_digest,
        "but it names another image"
    );

    // A tampered payload: the index's signature over a payload that names
    // another repository.
    let (payload, signature) = &cosign_signatures(&raw, &index)[0];
    let forged = String::from_utf8(payload.clone())
        .unwrap()
        .replace("acme/signed", "acme/forged");
    assert!(!openssl_verifies(&public, forged.as_bytes(), signature));
    let forged_digest = raw.put_blob(forged.as_bytes());
    let mut sig_manifest: Value =
        serde_json::from_slice(&raw.manifest(&format!("{}.sig", index.replace(':', "-")))).unwrap();
    sig_manifest["layers"][0]["digest"] = forged_digest.into();
    sig_manifest["layers"][0]["size"] = forged.len().into();
    raw.put_manifest(
        &format!("{}.sig", index.replace(':', "-")),
        sig_manifest.to_string().as_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let out = verify(&reference, &public);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not verify with the key"),
        "{}",
        text(&out.stderr)
    );

    // A tampered manifest under the tag: its digest has no signature.
    let mut tampered: Value = serde_json::from_slice(&raw.manifest("v1")).unwrap();
    tampered["annotations"] = serde_json::json!({"org.example.note": "tampered"});
    raw.put_manifest(
        "v1",
        tampered.to_string().as_bytes(),
        "application/vnd.oci.image.index.v1+json",
    );
    let out = verify(&reference, &public);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("it is not signed"),
        "{}",
        text(&out.stderr)
    );
}
