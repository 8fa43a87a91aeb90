//! Signed releases: a dist directory made by `cargo xtask dist` from the
//! cached sysroots, signed with a throwaway key, checked against the real
//! minisign CLI in both directions and against tampering; one end-to-end
//! check that the installer's embedded release key accepts what the release
//! step signs with the project's key; and the hosted workflow's YAML.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use common::{shared_mirror, stderr_of, stdout_of, sysroot, targets};
use fastmusl_dist::{
    channel::ChannelManifest,
    signature::{SignatureError, TrustedKey, verify},
};
use xtask::{
    dist::{DistRequest, run},
    project_root,
    signing::{ReleaseSigner, generate_keypair},
};

struct Release {
    dir: PathBuf,
    public: PathBuf,
    manifest: ChannelManifest,
}

fn dist(targets: &[String], out: &Path, key: &Path) {
    let cached_root = sysroot(&targets[0]).dir.parent().unwrap().to_path_buf();
    run(&DistRequest {
        targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
        out: out.to_path_buf(),
        sign_key: Some(key.to_path_buf()),
        sysroot_root: cached_root,
        mirror: Some(shared_mirror()),
        channel: "stable".to_owned(),
        with_installer: true,
        installer_build: Default::default(),
        dist_server: "http://127.0.0.1:1".to_owned(),
        compression_cache: Some(xtask::project_root().join("target/dist-cache")),
    })
    .unwrap();
}

/// One release directory per test process, signed with a throwaway key.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let targets = targets();
        for t in &targets {
            sysroot(t);
        }
        let root = tempfile::tempdir().unwrap().keep();
        let (public, secret) = generate_keypair(&root.join("keys"), "throwaway").unwrap();
        let dir = root.join("release");
        dist(&targets, &dir, &secret);
        let manifest = ChannelManifest::parse(
            &std::fs::read_to_string(dir.join("channel-stable.toml")).unwrap(),
        )
        .unwrap();
        Release {
            dir,
            public,
            manifest,
        }
    })
}

fn throwaway_key() -> TrustedKey {
    TrustedKey::parse(
        "throwaway",
        &std::fs::read_to_string(&release().public).unwrap(),
    )
    .unwrap()
}

/// The manifest and every artifact it lists, by file name.
fn release_files() -> Vec<String> {
    let r = release();
    let mut files = vec!["channel-stable.toml".to_owned()];
    files.extend(
        r.manifest
            .sysroot
            .target
            .values()
            .map(|a| a.artifact.url.clone()),
    );
    files
}

fn read(name: &str) -> (Vec<u8>, String) {
    let dir = &release().dir;
    (
        std::fs::read(dir.join(name)).unwrap(),
        std::fs::read_to_string(dir.join(format!("{name}.minisig"))).unwrap(),
    )
}

#[test]
fn the_manifest_lists_every_artifact_with_size_and_hash() {
    let r = release();
    assert_eq!(r.manifest.sysroot.version, "musl1.2.6-mimalloc3.4.3-r10");
    // Every flavor the table declares, each with every target.
    let flavors: Vec<String> = xtask::platforms::PlatformTable::project()
        .unwrap()
        .flavor
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(r.manifest.sysroot.flavors(), flavors);
    assert_eq!(flavors, ["default", "secure"]);
    let mut expected = targets();
    expected.sort();
    for flavor in &flavors {
        let listed: Vec<String> = expected
            .iter()
            .filter(|t| r.manifest.sysroot.artifact(flavor, t).is_some())
            .cloned()
            .collect();
        assert_eq!(listed, expected, "{flavor}");
        for triple in &expected {
            let sysroot = r.manifest.sysroot.artifact(flavor, triple).unwrap();
            check_sysroot_artifact(&r.dir, flavor, triple, sysroot);
        }
    }
    // The signature's trusted comment carries file, version and timestamp.
    let (data, sig) = read("channel-stable.toml");
    let comment = verify("channel-stable.toml", &data, &sig, &[throwaway_key()]).unwrap();
    assert_eq!(comment.get("version"), Some("musl1.2.6-mimalloc3.4.3-r10"));
    assert_eq!(
        comment.get("timestamp"),
        Some(r.manifest.release_timestamp.to_string().as_str())
    );
}

/// One sysroot archive: size, hash and `.sha256` as listed; the wrappers
/// executable; the channel's wiring naming a linker that is in it; the
/// manifest inside naming its flavor and target.
fn check_sysroot_artifact(
    dir: &std::path::Path,
    flavor: &str,
    triple: &str,
    sysroot: &fastmusl_dist::channel::SysrootArtifact,
) {
    let artifact = &sysroot.artifact;
    assert_eq!(
        artifact.url,
        fastmusl_dist::channel::sysroot_artifact_name(
            "musl1.2.6-mimalloc3.4.3-r10",
            flavor,
            triple
        )
    );
    let bytes = std::fs::read(dir.join(&artifact.url)).unwrap();
    assert_eq!(bytes.len() as u64, artifact.size, "{triple}");
    assert_eq!(
        xtask::tree_hash::sha256_hex(&bytes),
        artifact.sha256,
        "{triple}"
    );
    let line = std::fs::read_to_string(dir.join(format!("{}.sha256", artifact.url))).unwrap();
    assert_eq!(line, format!("{}  {}\n", artifact.sha256, artifact.url));
    let tar = zstd::decode_all(bytes.as_slice()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    // The channel carries the sysroot's wiring, so an installer plans
    // before downloading; the linker it names is in the archive.
    assert_eq!(sysroot.wiring.linker, format!("bin/{triple}-ld"));
    let top = artifact.url.trim_end_matches(".tar.zst");
    let linker = format!("{top}/{}", sysroot.wiring.linker);
    let manifest_path = format!("{top}/{}", fastmusl_dist::sysroot::MANIFEST_FILE);
    let (mut linker_mode, mut manifest) = (None, None);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path == linker {
            linker_mode = Some(entry.header().mode().unwrap());
        } else if path == manifest_path {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            manifest =
                Some(toml::from_str::<fastmusl_dist::sysroot::SysrootManifest>(&text).unwrap());
        }
    }
    assert_eq!(linker_mode, Some(0o755), "{linker}");
    let manifest = manifest.unwrap_or_else(|| panic!("{manifest_path} missing"));
    assert_eq!(
        (manifest.flavor.as_str(), manifest.target.as_str()),
        (flavor, triple)
    );
    assert_eq!(manifest.wiring, sysroot.wiring, "{flavor} {triple}");
}

#[test]
fn the_minisign_cli_verifies_our_signatures() {
    let r = release();
    for name in release_files() {
        let out = Command::new("minisign")
            .current_dir(&r.dir)
            .args(["-V", "-p"])
            .arg(&r.public)
            .args(["-m", &name])
            .output()
            .expect("minisign is installed (apt-get install minisign)");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            stdout_of(&out),
            stderr_of(&out)
        );
        assert!(
            stdout_of(&out).contains(&format!("Trusted comment: file:{name}")),
            "{}",
            stdout_of(&out)
        );
    }
}

#[test]
fn what_the_minisign_cli_signs_verifies_with_our_code() {
    let dir = tempfile::tempdir().unwrap();
    let (public, secret) = (dir.path().join("cli.pub"), dir.path().join("cli.key"));
    let keygen = Command::new("minisign")
        .arg("-G")
        .arg("-W")
        .arg("-p")
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", stderr_of(&keygen));
    let file = dir.path().join("payload.txt");
    std::fs::write(&file, b"signed by the minisign CLI\n").unwrap();
    let sign = Command::new("minisign")
        .args(["-S", "-s"])
        .arg(&secret)
        .arg("-m")
        .arg(&file)
        .args(["-t", "file:payload.txt"])
        .output()
        .unwrap();
    assert!(sign.status.success(), "{}", stderr_of(&sign));
    let key = TrustedKey::parse("cli key", &std::fs::read_to_string(&public).unwrap()).unwrap();
    let sig = std::fs::read_to_string(dir.path().join("payload.txt.minisig")).unwrap();
    let comment = verify("payload.txt", &std::fs::read(&file).unwrap(), &sig, &[key]).unwrap();
    assert_eq!(comment.get("file"), Some("payload.txt"));

    // A key made by the CLI also signs through our release step.
    let signer = ReleaseSigner::from_file(&secret).unwrap();
    std::fs::write(
        dir.path().join("payload.txt.minisig"),
        signer
            .sign(b"signed by the minisign CLI\n", "file:payload.txt")
            .unwrap(),
    )
    .unwrap();
    let check = Command::new("minisign")
        .args(["-V", "-p"])
        .arg(&public)
        .arg("-m")
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr_of(&check));
}

fn flip_bit(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x10;
}

#[test]
fn a_flipped_bit_in_an_archive_is_refused() {
    for name in release_files()
        .into_iter()
        .filter(|n| n.ends_with(".tar.zst"))
    {
        let (mut data, sig) = read(&name);
        let middle = data.len() / 2;
        flip_bit(&mut data, middle);
        let err = verify(&name, &data, &sig, &[throwaway_key()]).unwrap_err();
        assert!(matches!(err, SignatureError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("altered"), "{err}");
    }
}

#[test]
fn a_flipped_bit_in_the_manifest_is_refused() {
    let (mut data, sig) = read("channel-stable.toml");
    let at = data.len() - 10; // inside the last sha256
    flip_bit(&mut data, at);
    let err = verify("channel-stable.toml", &data, &sig, &[throwaway_key()]).unwrap_err();
    assert!(matches!(err, SignatureError::Mismatch { .. }), "{err}");
}

#[test]
fn a_flipped_bit_in_a_signature_is_refused() {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let (data, sig) = read("channel-stable.toml");
    let lines: Vec<&str> = sig.lines().collect();
    // Line 1 is the signature proper, line 3 the signature of the trusted comment.
    for line in [1, 3] {
        let mut raw = engine.decode(lines[line]).unwrap();
        let last = raw.len() - 1;
        flip_bit(&mut raw, last);
        let mut altered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        altered[line] = engine.encode(&raw);
        let err = verify(
            "channel-stable.toml",
            &data,
            &altered.join("\n"),
            &[throwaway_key()],
        )
        .unwrap_err();
        assert!(
            matches!(err, SignatureError::Mismatch { .. }),
            "line {line}: {err}"
        );
    }
    // A replayed manifest cannot be given a newer timestamp either.
    let newer = sig.replace("timestamp:", "timestamp:9");
    let err = verify("channel-stable.toml", &data, &newer, &[throwaway_key()]).unwrap_err();
    assert!(matches!(err, SignatureError::Mismatch { .. }), "{err}");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let (data, sig) = read("channel-stable.toml");
    let err = verify("channel-stable.toml", &data, &sig, &[TrustedKey::release()]).unwrap_err();
    assert!(matches!(err, SignatureError::UntrustedKey { .. }), "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[test]
fn truncated_files_are_refused() {
    let name = release_files()
        .into_iter()
        .find(|n| n.ends_with(".tar.zst"))
        .unwrap();
    let (data, sig) = read(&name);
    let err = verify(&name, &data[..data.len() - 1], &sig, &[throwaway_key()]).unwrap_err();
    assert!(matches!(err, SignatureError::Mismatch { .. }), "{err}");
    let err = verify(&name, &data, &sig[..sig.len() / 2], &[throwaway_key()]).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn a_signed_file_cannot_pass_for_another() {
    let name = release_files()
        .into_iter()
        .find(|n| n.contains("x86_64"))
        .unwrap();
    let (data, sig) = read(&name);
    let other = name.replace("x86_64", "aarch64");
    let err = verify(&other, &data, &sig, &[throwaway_key()]).unwrap_err();
    assert_eq!(
        err,
        SignatureError::WrongFile {
            file: other,
            signed_for: name
        }
    );
}

/// The one test that uses the project's real release key: what the release
/// step signs with it is accepted by the key embedded in fastmusl-dist (and
/// so in the installer). The secret key is read from ../shared/release-key/
/// or FASTMUSL_SIGN_KEY and never copied.
#[test]
fn the_embedded_release_key_accepts_what_the_release_step_signs() {
    let secret = std::env::var_os("FASTMUSL_SIGN_KEY")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared/release-key/fastmusl-release.key"));
    assert!(secret.exists(), "no release key at {}", secret.display());
    let out = tempfile::tempdir().unwrap();
    dist(
        &["x86_64-unknown-linux-musl".to_owned()],
        out.path(),
        &secret,
    );
    let manifest = std::fs::read(out.path().join("channel-stable.toml")).unwrap();
    let sig = std::fs::read_to_string(out.path().join("channel-stable.toml.minisig")).unwrap();
    verify(
        "channel-stable.toml",
        &manifest,
        &sig,
        &[TrustedKey::release()],
    )
    .unwrap();
    let committed =
        std::fs::read_to_string(project_root().join("dist/fastmusl-release.pub")).unwrap();
    assert_eq!(committed, fastmusl_dist::RELEASE_PUBLIC_KEY);
}

#[test]
fn the_hosted_release_workflow_parses() {
    let text = std::fs::read_to_string(project_root().join("ci/release.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("ci/release.yml is valid YAML");
    let doc = &docs[0];
    let jobs = &doc["jobs"];
    let matrix: Vec<&str> = jobs["sysroot"]["strategy"]["matrix"]["target"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let table = xtask::platforms::PlatformTable::project().unwrap();
    let every: Vec<&str> = table.target.iter().map(|t| t.triple.as_str()).collect();
    assert_eq!(
        matrix, every,
        "ci/release.yml builds every row of targets.toml"
    );
    assert_eq!(jobs["dist"]["needs"].as_str(), Some("sysroot"));
    let steps = jobs["dist"]["steps"].as_vec().unwrap();
    let runs: String = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains("cargo xtask dist"), "{runs}");
    assert!(
        runs.contains("minisign -V -p ../dist/fastmusl-release.pub"),
        "{runs}"
    );
    let pack = steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Pack and sign"))
        .unwrap();
    assert_eq!(
        pack["env"]["FASTMUSL_RELEASE_KEY"].as_str(),
        Some("${{ secrets.FASTMUSL_RELEASE_KEY }}")
    );
}
