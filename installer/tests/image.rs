//! `fastmusl image` against real peers on loopback: a TLS client built by
//! plain `cargo build` with fastmusl for x86_64 and aarch64, made into one
//! two-architecture image, pushed to `docker-registry`, read back by
//! `skopeo`, unpacked by `umoci` (which checks every layer's diff-id) and
//! run by `runc` as the unprivileged user against an `openssl s_server`
//! whose certificate only the image's `--ca-file` CA vouches for.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::containers::{
    Pki, Registry, TlsServer, TokenRegistry, free_port, index_platforms, path_str, run_ok,
    runc_run, skopeo_json, unpack_bundle,
};
use common::{AARCH64, Sandbox, X86_64, text};

/// The tls-probe fixture built for both targets with fastmusl.
struct Probes {
    sandbox: Sandbox,
    amd64: PathBuf,
    arm64: PathBuf,
}

fn probes() -> &'static Probes {
    static PROBES: OnceLock<Probes> = OnceLock::new();
    PROBES.get_or_init(|| {
        let (sandbox, server) = Sandbox::with_targets(&[X86_64, AARCH64]);
        drop(server);
        let project = sandbox.project("tls-probe");
        let binary = |triple: &str| {
            let build = sandbox.cargo(&project, &["build", "--release", "--target", triple], &[]);
            assert!(build.status.success(), "{triple}: {}", text(&build.stderr));
            project
                .join("target")
                .join(triple)
                .join("release/tls-probe")
        };
        Probes {
            amd64: binary(X86_64),
            arm64: binary(AARCH64),
            sandbox,
        }
    })
}

/// `fastmusl image ARGS` in the sandbox of the probes.
fn image(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = probes().sandbox.image_command(args);
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn image_ok(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = image(args, env);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    if args.contains(&"--json") {
        serde_json::from_slice(&out.stdout).unwrap()
    } else {
        serde_json::Value::Null
    }
}

/// Every entry of a tree: (path, st_mode, uid, gid).
fn entries(root: &Path) -> Vec<(String, u32, u32, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32, u32, u32)>) {
        let mut children: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for path in children {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, meta.mode(), meta.uid(), meta.gid()));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn a_two_arch_image_is_pushed_read_back_unpacked_and_runs_as_nonroot_trusting_its_ca() {
    let probes = probes();
    let pki = Pki::new();
    let tls = TlsServer::start(&pki);
    let registry = Registry::start("");
    let reference = format!("{}/team/probe:v1", registry.host);
    let port = tls.port.to_string();
    let summary = image_ok(
        &[
            "--bin",
            path_str(&probes.arm64),
            "--bin",
            path_str(&probes.amd64),
            "--tag",
            "probe:v1",
            "--ca-file",
            path_str(&pki.ca()),
            "--source",
            "https://example.com/probe",
            "--revision",
            "0123abc",
            "--port",
            "8443",
            "--label",
            "com.example.team=edge",
            "--push",
            &reference,
            "--json",
            "--",
            &port,
        ],
        &[],
    );

    // The index names both platforms; the tag points at it.
    let index = skopeo_json(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: BTreeMap<String, String> = index_platforms(&index).into_iter().collect();
    assert_eq!(
        platforms.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64/v8"]
    );
    assert_eq!(
        serde_json::to_value(&platforms).unwrap(),
        summary["manifests"]
    );

    // Each manifest's config, as skopeo reads it for that architecture.
    for (arch, manifest_digest) in [
        ("amd64", &platforms["linux/amd64"]),
        ("arm64", &platforms["linux/arm64/v8"]),
    ] {
        let config = skopeo_json(&[
            "inspect",
            "--config",
            "--tls-verify=false",
            "--override-arch",
            arch,
            &format!("docker://{reference}"),
        ]);
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
        let c = &config["config"];
        assert_eq!(c["User"], "65532:65532");
        assert_eq!(c["Entrypoint"], serde_json::json!(["/app/tls-probe"]));
        assert_eq!(c["Cmd"], serde_json::json!([port]));
        assert_eq!(c["WorkingDir"], "/home/nonroot");
        assert_eq!(c["ExposedPorts"], serde_json::json!({"8443/tcp": {}}));
        let env: Vec<&str> = c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{env:?}"
        );
        assert!(env.iter().any(|e| e.starts_with("PATH=/app:")), "{env:?}");
        assert_eq!(
            c["Labels"],
            serde_json::json!({
                "com.example.team": "edge",
                "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
                "org.opencontainers.image.revision": "0123abc",
                "org.opencontainers.image.source": "https://example.com/probe",
            })
        );
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        let manifest = skopeo_json(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/team/probe@{manifest_digest}", registry.host),
        ]);
        assert_eq!(
            manifest["layers"][0]["digest"], summary["base_layer"],
            "{arch}"
        );
    }

    // Pulled back into a layout by skopeo (the host's architecture), then
    // unpacked by umoci, which checks each layer against its diff-id.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("pulled");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:v1", layout.display())),
    );
    let bundle = work.path().join("bundle");
    unpack_bundle(&layout, "v1", &bundle);
    let rootfs = bundle.join("rootfs");
    let (dir, file) = (0o040000, 0o100000);
    let expected: Vec<(String, u32, u32, u32)> = [
        ("app", dir | 0o755, 0, 0),
        ("app/tls-probe", file | 0o755, 0, 0),
        ("etc", dir | 0o755, 0, 0),
        ("etc/group", file | 0o644, 0, 0),
        ("etc/passwd", file | 0o644, 0, 0),
        ("etc/ssl", dir | 0o755, 0, 0),
        ("etc/ssl/certs", dir | 0o755, 0, 0),
        ("etc/ssl/certs/ca-certificates.crt", file | 0o644, 0, 0),
        ("home", dir | 0o755, 0, 0),
        ("home/nonroot", dir | 0o700, 65532, 65532),
        ("root", dir | 0o700, 0, 0),
        ("tmp", dir | 0o1777, 0, 0),
    ]
    .map(|(p, m, u, g)| (p.to_owned(), m, u, g))
    .to_vec();
    assert_eq!(entries(&rootfs), expected);
    assert_eq!(
        std::fs::read(rootfs.join("app/tls-probe")).unwrap(),
        std::fs::read(&probes.amd64).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let bundle_text =
        std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle_text.ends_with(&std::fs::read_to_string(pki.ca()).unwrap()));

    // It runs, as uid 65532, and its TLS client verifies the server through
    // the CA added with --ca-file.
    let run = runc_run(&bundle);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.contains("uid=65532\n"), "{stdout}");
    assert!(stdout.contains("verified: HTTP/1.0 200 ok"), "{stdout}");
}

/// A registry that speaks only HTTPS, with a certificate from a private
/// CA: a push without that CA is refused (plain HTTP to a loopback
/// registry, as without `--registry-ca`; another CA fails the TLS check),
/// nothing is stored, and `--registry-ca` pushes the image and its SBOM,
/// which skopeo, trusting the same CA, reads back. A file that holds no
/// certificate is refused before anything is sent.
#[test]
fn a_registry_behind_a_private_ca_is_pushed_to_with_registry_ca() {
    let probes = probes();
    let pki = Pki::new();
    let other_ca = Pki::new();
    let registry = Registry::start_tls(&pki);
    let reference = format!("{}/team/private:v1", registry.host);
    let push = |extra: &[&str]| {
        let mut args = vec![
            "--bin",
            path_str(&probes.amd64),
            "--tag",
            "private:v1",
            "--push",
            &reference,
        ];
        args.extend_from_slice(extra);
        image(&args, &[])
    };
    let not_a_certificate = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_a_certificate.path(), "not a certificate\n").unwrap();
    for (extra, expected) in [
        (vec![], "HTTP 400"),
        // (The other CA has the same name, so rustls takes it for the
        // issuer and then finds the signature wrong.)
        (
            vec!["--registry-ca", path_str(&other_ca.ca())],
            "invalid peer certificate: BadSignature",
        ),
        (
            vec!["--registry-ca", path_str(not_a_certificate.path())],
            "no PEM certificate in it",
        ),
    ] {
        let out = push(&extra);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} pushed");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(registry.stored_blobs().is_empty(), "{extra:?}");
    }

    let out = push(&["--registry-ca", path_str(&pki.ca())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tags = registry.tags("team/private");
    assert!(tags.contains(&"v1".to_owned()), "{tags:?}");
    assert!(
        tags.iter().any(|t| t.starts_with("sha256-")),
        "no SBOM: {tags:?}"
    );
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(pki.ca(), certs.path().join("ca.crt")).unwrap();
    let manifest = skopeo_json(&[
        "inspect",
        "--raw",
        "--cert-dir",
        path_str(certs.path()),
        &format!("docker://{reference}"),
    ]);
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{manifest}"
    );
}

#[test]
fn without_the_test_ca_the_client_in_the_image_refuses_the_server() {
    let probes = probes();
    let pki = Pki::new();
    let tls = TlsServer::start(&pki);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let port = tls.port.to_string();
    image_ok(
        &[
            "--bin",
            path_str(&probes.amd64),
            "--tag",
            "probe:plain",
            "--oci-dir",
            path_str(&layout),
            "--",
            &port,
        ],
        &[],
    );
    let bundle = work.path().join("bundle");
    unpack_bundle(&layout, "plain", &bundle);
    let run = runc_run(&bundle);
    let stdout = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(2),
        "{stdout}\n{}",
        text(&run.stderr)
    );
    assert!(stdout.contains("uid=65532\n"), "{stdout}");
    assert!(stdout.contains("UnknownIssuer"), "{stdout}");
    // Mozilla's roots were there; the test CA was not among them.
    let roots: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("roots="))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(roots > 100, "{stdout}");
}

#[test]
fn the_same_inputs_give_the_same_bytes_and_a_second_push_skips_the_base_layer() {
    let probes = probes();
    let work = tempfile::tempdir().unwrap();
    let build = |name: &str, env: &[(&str, &str)]| {
        let archive = work.path().join(name);
        image_ok(
            &[
                "--bin",
                path_str(&probes.amd64),
                "--bin",
                path_str(&probes.arm64),
                "--tag",
                "probe:v1",
                "--oci-archive",
                path_str(&archive),
            ],
            env,
        );
        std::fs::read(&archive).unwrap()
    };
    let first = build("a.tar", &[]);
    assert_eq!(first, build("b.tar", &[]), "two builds of the same inputs");
    let dated = build("c.tar", &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(first, dated, "SOURCE_DATE_EPOCH sets the dates");
    assert_eq!(
        dated,
        build("d.tar", &[("SOURCE_DATE_EPOCH", "1700000000")])
    );

    // skopeo reads the archive.
    let inspected = skopeo_json(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}:v1", work.path().join("a.tar").display()),
    ]);
    assert_eq!(inspected["manifests"].as_array().unwrap().len(), 2);

    // The first push uploads every blob; a second image over the same base
    // (another program: the aarch64 binary alone) uploads no base layer.
    let registry = Registry::start("");
    let push = |bins: &[&Path], tag: &str| {
        let mut args = Vec::new();
        for bin in bins {
            args.extend(["--bin", path_str(bin)]);
        }
        let reference = format!("{}/probe:{tag}", registry.host);
        args.extend(["--tag", "probe:x", "--push", &reference, "--json"]);
        image_ok(&args, &[])
    };
    let pushed = push(&[&probes.amd64, &probes.arm64], "both");
    let uploaded = pushed["pushed"]["uploaded"].as_array().unwrap();
    assert_eq!(uploaded.len(), 5, "base, 2 app layers, 2 configs: {pushed}");
    let base = &pushed["base_layer"];
    assert!(uploaded.contains(base));
    let again = push(&[&probes.arm64], "arm-only");
    let uploaded_again = again["pushed"]["uploaded"].as_array().unwrap();
    assert!(!uploaded_again.contains(base), "{again}");
    assert!(
        again["pushed"]["skipped"]
            .as_array()
            .unwrap()
            .contains(base)
    );
    assert_eq!(again["base_layer"], *base);
    // The two tags, and the referrers tags of the three documents with
    // SBOMs (arm-only's manifest is both's arm64 manifest).
    let tags = registry.tags("probe");
    let (referrers, named): (Vec<&String>, Vec<&String>) =
        tags.iter().partition(|t| t.starts_with("sha256-"));
    assert_eq!(named, ["arm-only", "both"]);
    let mut documents: Vec<String> = pushed["manifests"]
        .as_object()
        .unwrap()
        .values()
        .chain([&pushed["digest"]])
        .map(|d| d.as_str().unwrap().replace(':', "-"))
        .collect();
    documents.sort();
    assert_eq!(referrers, documents.iter().collect::<Vec<_>>());
}

#[test]
fn binaries_that_cannot_go_into_a_scratch_image_are_refused_and_nothing_is_written() {
    let probes = probes();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let layout = work.path().join("layout");
    let cases: [(&[&Path], &str); 3] = [
        (&[Path::new("/bin/sh")], "is dynamically linked"),
        (&[&script], "is not an ELF executable"),
        (
            &[&probes.amd64, &probes.amd64],
            "are both linux/amd64 binaries",
        ),
    ];
    for (bins, expected) in cases {
        let mut args = Vec::new();
        for bin in bins {
            args.extend(["--bin", path_str(bin)]);
        }
        args.extend(["--tag", "x:y", "--oci-dir", path_str(&layout)]);
        let out = image(&args, &[]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{bins:?} accepted");
        assert!(stderr.contains(expected), "{bins:?}: {stderr}");
        assert!(!layout.exists(), "{bins:?}: wrote {}", layout.display());
    }
}

#[test]
fn unreachable_and_refusing_registries_give_clear_errors_and_no_tag() {
    let probes = probes();
    let bin = path_str(&probes.amd64);

    let closed = format!("127.0.0.1:{}/probe:v1", free_port());
    let out = image(&["--bin", bin, "--tag", "probe:v1", "--push", &closed], &[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot reach the registry"), "{stderr}");

    // distribution in read-only maintenance mode refuses every upload.
    let readonly = Registry::start("  maintenance:\n    readonly:\n      enabled: true\n");
    let reference = format!("{}/probe:v1", readonly.host);
    let out = image(
        &["--bin", bin, "--tag", "probe:v1", "--push", &reference],
        &[],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("uploading blob sha256:"), "{stderr}");
    assert!(readonly.tags("probe").is_empty());
    assert!(readonly.stored_blobs().is_empty());
}

#[test]
fn the_bearer_token_flow_refuses_wrong_credentials_and_takes_those_of_an_auth_file() {
    let probes = probes();
    let bin = path_str(&probes.amd64);
    let secured = TokenRegistry::start("ci", "s3cret");
    let host = secured.registry.host.clone();
    let reference = format!("{host}/team/probe:v1");

    let out = image(
        &["--bin", bin, "--tag", "probe:v1", "--push", &reference],
        &[],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("asks for credentials and none were found"),
        "{stderr}"
    );

    let out = image(
        &[
            "--bin", bin, "--tag", "probe:v1", "--push", &reference, "--creds", "ci:wrong",
        ],
        &[],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refused the credentials of ci (from --creds)"),
        "{stderr}"
    );
    assert!(secured.registry.tags("team/probe").is_empty());
    assert!(secured.registry.stored_blobs().is_empty());

    // The right ones, from an auth file as `podman login` writes it.
    let work = tempfile::tempdir().unwrap();
    let auth_file = work.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths": {{"{host}": {{"auth": "Y2k6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    let summary = image_ok(
        &[
            "--bin", bin, "--tag", "probe:v1", "--push", &reference, "--json",
        ],
        &[("REGISTRY_AUTH_FILE", path_str(&auth_file))],
    );
    // The tag, and the referrers tag listing the SBOM of what it names.
    let referrers_tag = summary["digest"].as_str().unwrap().replace(':', "-");
    assert_eq!(
        secured.registry.tags("team/probe"),
        [referrers_tag.as_str(), "v1"]
    );
    // skopeo, through the same token flow, reads back what was pushed.
    let manifest = skopeo_json(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "ci:s3cret",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["layers"][0]["digest"], summary["base_layer"]);
}
