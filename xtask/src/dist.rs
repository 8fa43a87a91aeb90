//! `cargo xtask dist --target T… --out DIR [--sign-key PATH]`: turns built
//! sysroots into a release directory that can be uploaded as-is to any
//! static host:
//!
//! - `fastmusl-sysroot-<version>-<triple>.tar.zst` per target, and
//!   `fastmusl-sysroot-<version>-<flavor>-<triple>.tar.zst` for each further
//!   flavor (`[[flavor]]` in sysroots/targets.toml): directories
//!   and regular files only (a symlink in the tree is an error), reproducible
//!   (entries sorted, fixed mtime, uid/gid 0, no owner names, normalised
//!   modes, no extended attributes; zstd level 18), with `.sha256` and, when
//!   signing, `.minisig`;
//! - `channel-<channel>.toml` (see `fastmusl_dist::channel`) and its
//!   `.minisig`, whose trusted comment names the file, the version and the
//!   release timestamp, so an installer can refuse a replayed older one.
//!
//! Times: archive entries carry SOURCE_DATE_EPOCH, else the pinned source
//! date (so an unchanged sysroot packs to the same bytes in any release);
//! the manifest's release timestamp is SOURCE_DATE_EPOCH, else the commit
//! time of HEAD (the same for every build of one commit, later for later
//! commits).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    channel::{
        self, Artifact, ChannelManifest, FlavorRelease, InstallerRelease, SysrootArtifact,
        SysrootRelease,
    },
    flavor,
    reproducible::path_remaps,
    rust_std,
    signature::TrustedComment,
};
use xshell::{Shell, cmd};

use crate::{
    fixture::Sysroot,
    pins::{self, SourcePins},
    platforms::{PlatformTable, TargetTriple},
    project_root,
    signing::{ReleaseSigner, SIGN_KEY_ENV},
    sysroot::{self, SysrootRequest},
    tree_hash::sha256_hex,
};

/// zstd level for sysroot archives: slow to pack once, fast to unpack often.
/// Measured on the x86_64 sysroot with libc++ (a 20.7 MB tar): level 19
/// packs it in 9.4 s to 2,954,741 B, 18 in 6.2 s to 2,982,816 B (+0.95%),
/// 17 in 4.4 s to 3,022,633 B (+2.3%). 18 keeps nearly all of 19's ratio at
/// two thirds of its time, for every archive of every release.
const ZSTD_LEVEL: i32 = 18;

pub struct DistRequest {
    pub targets: Vec<TargetTriple>,
    pub out: PathBuf,
    /// The minisign secret key; `None` also consults FASTMUSL_SIGN_KEY.
    pub sign_key: Option<PathBuf>,
    /// Where sysroots are built or found (`<root>/<triple>`).
    pub sysroot_root: PathBuf,
    pub mirror: Option<PathBuf>,
    pub channel: String,
    /// Also build and ship the `fastmusl` binary for each target (as a
    /// host), with `install.sh`.
    pub with_installer: bool,
    /// How those binaries are built.
    pub installer_build: InstallerBuild,
    /// The dist server `install.sh` downloads from by default.
    pub dist_server: String,
    /// A directory keeping compressed archives by the hash of their tar
    /// (zstd at level 18 takes ~6 s per sysroot); `None` compresses anew.
    pub compression_cache: Option<PathBuf>,
}

/// Where and with which compiler the `fastmusl` binaries are built.
#[derive(Debug, Clone, Default)]
pub struct InstallerBuild {
    /// Cargo's target directory; default `target/installer-build`, kept
    /// across runs (a build against a sysroot elsewhere wants its own: the
    /// linker and C wrapper paths are part of cargo's fingerprints).
    pub target_dir: Option<PathBuf>,
    /// The rustc to build with; default `RUSTC`, else cargo's own.
    pub rustc: Option<PathBuf>,
    /// Build for these hosts only (each a released target whose row says
    /// `installer_host`); default: every such target. A test release that
    /// runs one host's installer need not spend minutes building others.
    pub only_hosts: Option<Vec<TargetTriple>>,
}

/// What a dist run wrote.
#[derive(Debug)]
pub struct DistOutput {
    pub manifest: PathBuf,
    pub artifacts: Vec<PathBuf>,
    pub signed_by: Option<String>,
}

pub fn run(request: &DistRequest) -> Result<DistOutput> {
    if request.targets.is_empty() {
        bail!("dist needs at least one --target");
    }
    let signer = match request
        .sign_key
        .clone()
        .or_else(|| std::env::var_os(SIGN_KEY_ENV).map(PathBuf::from))
    {
        Some(path) => Some(ReleaseSigner::from_file(&path)?),
        None => {
            eprintln!(
                "warning: no signing key (--sign-key or {SIGN_KEY_ENV}): the release is unsigned, \
                 and installers will refuse it"
            );
            None
        }
    };
    let pins = SourcePins::load(&project_root().join("sysroots/sources.toml"))?;
    let version = pins.sysroot_version();
    let source_date_epoch = fastmusl_dist::reproducible::source_date_epoch()?;
    let archive_mtime = source_date_epoch.unwrap_or_else(|| pins.source_date_epoch());
    let release_timestamp = match source_date_epoch {
        Some(t) => t,
        None => head_commit_time()?,
    };

    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("creating {}", request.out.display()))?;
    let flavors = PlatformTable::project()?.flavor;
    // By flavor, then triple.
    let mut released =
        std::collections::BTreeMap::<String, std::collections::BTreeMap<_, _>>::new();
    let mut artifacts = Vec::new();
    let mut sysroot_dirs = Vec::new();
    // First every sysroot and its manifest, then the archives (packed on
    // all cores), then the release files in a fixed order.
    let mut archives = Vec::new();
    for triple in &request.targets {
        let default_dir = sysroot::build_or_reuse(&SysrootRequest {
            triple: triple.clone(),
            mirror: request.mirror.clone(),
            out_root: request.sysroot_root.clone(),
            extra_flavors: Vec::new(),
        })?;
        sysroot_dirs.push(default_dir);
        for flavor in &flavors {
            let dir = sysroot::sysroot_dir(&request.sysroot_root, &flavor.name, triple.as_str());
            let (manifest, _) =
                sysroot::read_manifest(&dir)?.context("the sysroot has no manifest")?;
            if manifest.version != version || manifest.flavor != flavor.name {
                bail!(
                    "{} holds sysroot {} ({}), expected {version} ({})",
                    dir.display(),
                    manifest.version,
                    manifest.flavor,
                    flavor.name
                );
            }
            let name = channel::sysroot_artifact_name(&version, &flavor.name, triple.as_str());
            archives.push((triple, &flavor.name, manifest, ArchiveJob { dir, name }));
        }
    }
    let jobs: Vec<&ArchiveJob> = archives.iter().map(|(.., job)| job).collect();
    let packed = pack_all(&jobs, archive_mtime, request.compression_cache.as_deref())?;
    for ((triple, flavor, manifest, job), packed) in archives.into_iter().zip(packed) {
        let path = request.out.join(&job.name);
        let artifact = publish(
            signer.as_ref(),
            &request.out,
            &job.name,
            &packed.zst,
            &version,
        )?;
        eprintln!(
            "fastmusl: {}: {} bytes ({} unpacked)",
            job.name,
            packed.zst.len(),
            packed.tar_len
        );
        released.entry(flavor.clone()).or_default().insert(
            triple.to_string(),
            SysrootArtifact {
                artifact,
                wiring: manifest.wiring,
            },
        );
        artifacts.push(path);
    }
    let targets = released.remove(flavor::DEFAULT).unwrap_or_default();
    let other_flavors = flavors
        .iter()
        .filter_map(|f| {
            let target = released.remove(&f.name)?;
            let summary = f.summary.clone();
            Some((f.name.clone(), FlavorRelease { summary, target }))
        })
        .collect();

    let installer = if request.with_installer {
        let installer_version = installer_version()?;
        let wanted = installer_hosts(&request.targets, &request.installer_build)?;
        let mut hosts = std::collections::BTreeMap::new();
        for dir in &sysroot_dirs {
            let sysroot = Sysroot::open(dir)?;
            if !wanted.contains(&sysroot.platform.triple) {
                continue;
            }
            let host = sysroot.platform.triple.to_string();
            let binary = build_installer(&sysroot, &request.installer_build)?;
            let name = channel::installer_artifact_name(&installer_version, &host);
            let bytes = std::fs::read(&binary)?;
            eprintln!("fastmusl: {name}: {} bytes", bytes.len());
            hosts.insert(
                host,
                publish(
                    signer.as_ref(),
                    &request.out,
                    &name,
                    &bytes,
                    &installer_version,
                )?,
            );
            artifacts.push(request.out.join(&name));
        }
        let script = install_script(signer.as_ref(), &request.dist_server, &version)?;
        publish(
            signer.as_ref(),
            &request.out,
            "install.sh",
            script.as_bytes(),
            &installer_version,
        )?;
        Some(InstallerRelease {
            version: installer_version,
            host: hosts,
        })
    } else {
        None
    };

    let manifest = ChannelManifest {
        manifest_version: channel::MANIFEST_VERSION.to_owned(),
        channel: request.channel.clone(),
        date: pins::iso_date(release_timestamp),
        release_timestamp,
        sysroot: SysrootRelease {
            version: version.clone(),
            summary: flavors
                .iter()
                .find(|f| f.name == flavor::DEFAULT)
                .map(|f| f.summary.clone()),
            target: targets,
            flavor: other_flavors,
        },
        installer,
    };
    let manifest_name = channel::manifest_file_name(&request.channel);
    let manifest_path = request.out.join(&manifest_name);
    let text = manifest.to_toml();
    write_atomic(&manifest_path, text.as_bytes())?;
    if let Some(signer) = &signer {
        let timestamp = release_timestamp.to_string();
        let comment = TrustedComment::format(&[
            ("file", &manifest_name),
            ("version", &version),
            ("timestamp", &timestamp),
        ]);
        write_atomic(
            &request.out.join(format!("{manifest_name}.minisig")),
            signer.sign(text.as_bytes(), &comment)?.as_bytes(),
        )?;
    }
    Ok(DistOutput {
        manifest: manifest_path,
        artifacts,
        signed_by: signer.map(|s| s.key_id()),
    })
}

/// One sysroot archive of a release: the tree, and the file name (whose
/// stem is the archive's top directory).
struct ArchiveJob {
    dir: PathBuf,
    name: String,
}

struct PackedArchive {
    tar_len: usize,
    zst: Vec<u8>,
}

/// At most this many archives are compressed at once: each zstd context at
/// `ZSTD_LEVEL` holds tens of MB.
const MAX_PACKING_THREADS: usize = 8;

/// Packs and compresses each job, one per core at a time (zstd at
/// `ZSTD_LEVEL` is single-threaded and takes seconds per sysroot); results
/// in the jobs' order. An archive's bytes depend only on its tree, so the
/// order the work is done in cannot reach the release.
fn pack_all(jobs: &[&ArchiveJob], mtime: u64, cache: Option<&Path>) -> Result<Vec<PackedArchive>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_PACKING_THREADS);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let pack = |job: &ArchiveJob| -> Result<PackedArchive> {
        let top = job.name.trim_end_matches(".tar.zst");
        let tar = pack_tree(&job.dir, top, mtime)?;
        let zst = compress(&tar, cache).with_context(|| format!("making {}", job.name))?;
        Ok(PackedArchive {
            tar_len: tar.len(),
            zst,
        })
    };
    let mut done: Vec<(usize, Result<PackedArchive>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(jobs.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break mine };
                        mine.push((i, pack(job)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a packing thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, packed)| packed).collect()
}

/// zstd of `tar` at `ZSTD_LEVEL`, from `cache` if an earlier run made it.
/// The key is the tar's hash, the level and the zstd version; a cached
/// entry is used only if it decompresses to `tar` exactly, so the cache can
/// save time but never change a release.
fn compress(tar: &[u8], cache: Option<&Path>) -> Result<Vec<u8>> {
    let key = format!(
        "{}-zstd{}-{ZSTD_LEVEL}.tar.zst",
        sha256_hex(tar),
        zstd::zstd_safe::version_number()
    );
    if let Some(cached) = cache.and_then(|dir| std::fs::read(dir.join(&key)).ok())
        && zstd::decode_all(cached.as_slice()).is_ok_and(|d| d == tar)
    {
        return Ok(cached);
    }
    let zst = zstd::encode_all(tar, ZSTD_LEVEL).context("compressing")?;
    if let Some(dir) = cache {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_atomic(&dir.join(&key), &zst)?;
    }
    Ok(zst)
}

/// Writes a release file with its `.sha256` and, when signing, `.minisig`
/// (trusted comment: file, sha256, version); returns its manifest entry.
fn publish(
    signer: Option<&ReleaseSigner>,
    out: &Path,
    name: &str,
    bytes: &[u8],
    version: &str,
) -> Result<Artifact> {
    let sha256 = sha256_hex(bytes);
    write_atomic(&out.join(name), bytes)?;
    write_atomic(
        &out.join(format!("{name}.sha256")),
        format!("{sha256}  {name}\n").as_bytes(),
    )?;
    if let Some(signer) = signer {
        let comment =
            TrustedComment::format(&[("file", name), ("sha256", &sha256), ("version", version)]);
        write_atomic(
            &out.join(format!("{name}.minisig")),
            signer.sign(bytes, &comment)?.as_bytes(),
        )?;
    }
    Ok(Artifact {
        url: name.to_owned(),
        size: bytes.len() as u64,
        sha256,
    })
}

/// The installer crate's version.
fn installer_version() -> Result<String> {
    let path = project_root().join("installer/Cargo.toml");
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(&path)?)?;
    manifest
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no package.version in {}", path.display()))
}

/// The targets to ship a `fastmusl` binary for: those whose row says
/// `installer_host`, or `build.only_hosts`, each of which must be one.
fn installer_hosts(targets: &[TargetTriple], build: &InstallerBuild) -> Result<Vec<TargetTriple>> {
    let table = PlatformTable::project()?;
    let is_host = |t: &TargetTriple| table.get(t).is_ok_and(|row| row.installer_host);
    let Some(only) = &build.only_hosts else {
        return Ok(targets.iter().filter(|t| is_host(t)).cloned().collect());
    };
    for host in only {
        if !targets.contains(host) || !is_host(host) {
            let hosts: Vec<String> = targets
                .iter()
                .filter(|t| is_host(t))
                .map(|t| t.to_string())
                .collect();
            bail!(
                "no fastmusl binary can be built for {host}: installers are built for the \
                 released targets whose row in sysroots/targets.toml says installer_host \
                 (here: {})",
                hosts.join(", ")
            );
        }
    }
    Ok(only.clone())
}

/// The caller's environment variables that change what cargo and rustc
/// make of the same sources (flags, profiles, wrappers, nightly features
/// that build scripts probe for under `RUSTC_BOOTSTRAP`), so that a
/// release's installer has the same bytes whoever runs `dist`. The release
/// build's own settings go on the command line.
fn without_caller_build_settings(cmd: &mut std::process::Command) {
    const EXACT: [&str; 8] = [
        "RUSTC_BOOTSTRAP",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_INCREMENTAL",
    ];
    const PREFIXES: [&str; 3] = ["CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_"];
    for (key, _) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        if EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

/// Builds the `fastmusl` binary for `sysroot`'s target as a static musl
/// binary linked against that very sysroot: we ship what we eat. The cargo
/// settings go on the command line, so no config file is touched; this
/// machine's paths are remapped out of the binary (`fastmusl_dist::reproducible`).
fn build_installer(sysroot: &Sysroot, build: &InstallerBuild) -> Result<PathBuf> {
    let triple = sysroot.platform.triple.as_str();
    let linker = sysroot.linker_config_arg();
    let target_dir = build
        .target_dir
        .clone()
        .unwrap_or_else(|| project_root().join("target/installer-build"));
    let rustc = build
        .rustc
        .clone()
        .or_else(|| std::env::var_os("RUSTC").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("rustc"));
    // The checkout is /fastmusl in the binary; see fastmusl_dist::reproducible.
    let remaps: Vec<toml::Value> = path_remaps(
        || std::process::Command::new(&rustc),
        &project_root(),
        "/fastmusl",
        Some(&target_dir),
    )?
    .iter()
    .map(|remap| toml::Value::String(remap.rustc_flag()))
    .collect();
    let rustflags = format!("target.{triple}.rustflags={}", toml::Value::Array(remaps));
    let mut cmd = rust_std::cargo();
    without_caller_build_settings(&mut cmd);
    sysroot.set_c_toolchain_env(&mut cmd);
    let output = cmd
        .current_dir(project_root())
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "fastmusl",
            "--target",
            triple,
            "--config",
            &linker,
            "--config",
            &rustflags,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTC", &rustc)
        .output()
        .context("running cargo")?;
    if !output.status.success() {
        bail!(
            "building fastmusl for {triple} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(target_dir.join(triple).join("release").join("fastmusl"))
}

/// `install.sh` with the release key (of the signer) and default server.
fn install_script(
    signer: Option<&ReleaseSigner>,
    dist_server: &str,
    version: &str,
) -> Result<String> {
    let key = match signer {
        Some(s) => s
            .public_key_text()?
            .lines()
            .find(|l| !l.starts_with("untrusted comment:") && !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => String::new(),
    };
    if dist_server.contains('\'') || key.contains('\'') {
        bail!("the dist server URL must not contain a quote");
    }
    Ok(include_str!("install.sh")
        .replace("@DIST_SERVER@", dist_server)
        .replace("@PUBLIC_KEY@", &key)
        .replace("@VERSION@", version))
}

fn head_commit_time() -> Result<u64> {
    let sh = Shell::new()?;
    let root = project_root();
    let out = cmd!(sh, "git -C {root} log -1 --format=%ct HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .context("no release time: set SOURCE_DATE_EPOCH (or run from a git checkout, whose HEAD commit time is used)")?;
    out.trim()
        .parse()
        .with_context(|| format!("git printed {out:?} as HEAD's commit time"))
}

/// A reproducible tar of `dir` under the top-level directory `top`; refuses
/// a tree with anything but directories and regular files.
pub fn pack_tree(dir: &Path, top: &str, mtime: u64) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries)?;
    entries.sort();
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let header_for = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        // Owner names stay empty (new_gnu zeroes them).
        header
    };
    let mut top_header = header_for(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut top_header, format!("{top}/"), std::io::empty())?;
    for rel in entries {
        let path = dir.join(&rel);
        let name = format!("{top}/{rel}");
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            let mut header = header_for(tar::EntryType::Directory, 0o755, 0);
            builder.append_data(&mut header, format!("{name}/"), std::io::empty())?;
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let content = std::fs::read(&path)?;
            let mut header = header_for(tar::EntryType::Regular, mode, content.len() as u64);
            builder.append_data(&mut header, &name, content.as_slice())?;
        } else {
            // Installers refuse everything else (see installer/src/unpack.rs).
            bail!(
                "{} is a {}; a sysroot archive holds only regular files and directories, \
                 so it is not packed",
                path.display(),
                if meta.file_type().is_symlink() {
                    "symlink"
                } else {
                    "special file"
                }
            );
        }
    }
    Ok(builder.into_inner()?)
}

/// Relative '/'-separated paths of everything under `dir`, unsorted.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)?
            .to_str()
            .context("non-UTF-8 path in a sysroot")?
            .to_owned();
        let is_dir = entry.file_type()?.is_dir();
        out.push(rel);
        if is_dir {
            collect(root, &path, out)?;
        }
    }
    Ok(())
}

/// Writes beside the destination, then renames: readers never see half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installers_are_built_for_the_installer_hosts_or_the_ones_asked_for() {
        let t = |s: &str| -> TargetTriple { s.parse().unwrap() };
        let targets = [
            t("i686-unknown-linux-musl"),
            t("aarch64-unknown-linux-musl"),
            t("x86_64-unknown-linux-musl"),
        ];
        let every = installer_hosts(&targets, &InstallerBuild::default()).unwrap();
        assert_eq!(every, [targets[1].clone(), targets[2].clone()]);
        let only = |hosts: &[&str]| InstallerBuild {
            only_hosts: Some(hosts.iter().map(|h| t(h)).collect()),
            ..Default::default()
        };
        let one = installer_hosts(&targets, &only(&["x86_64-unknown-linux-musl"])).unwrap();
        assert_eq!(one, [targets[2].clone()]);
        for refused in ["i686-unknown-linux-musl", "riscv64gc-unknown-linux-musl"] {
            let err = installer_hosts(&targets, &only(&[refused])).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("no fastmusl binary can be built for {refused}"))
                    && err
                        .to_string()
                        .contains("(here: aarch64-unknown-linux-musl, x86_64-unknown-linux-musl)"),
                "{err}"
            );
        }
    }

    #[test]
    fn packing_ignores_times_owners_modes_and_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir_all(dir.join("lib")).unwrap();
        }
        std::fs::write(a.path().join("lib/x"), "x").unwrap();
        std::fs::write(a.path().join("y"), "y").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(b.path().join("y"), "y").unwrap();
        std::fs::write(b.path().join("lib/x"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.path().join("y"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let ta = pack_tree(a.path(), "top", 5).unwrap();
        let tb = pack_tree(b.path(), "top", 5).unwrap();
        assert_eq!(ta, tb);
        let mut archive = tar::Archive::new(ta.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(
                    (e.header().mtime().unwrap(), e.header().uid().unwrap()),
                    (5, 0)
                );
                e.path().unwrap().display().to_string()
            })
            .collect();
        assert_eq!(names, ["top/", "top/lib/", "top/lib/x", "top/y"]);
    }

    #[test]
    fn a_tree_with_a_symlink_is_not_packed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/x"), "x").unwrap();
        std::os::unix::fs::symlink("x", dir.path().join("lib/link")).unwrap();
        let err = format!("{:#}", pack_tree(dir.path(), "top", 5).unwrap_err());
        assert!(err.contains("lib/link is a symlink"), "{err}");
    }
}
