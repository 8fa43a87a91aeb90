//! `fastmusl image`: a cargo project, or static binaries built before, → a
//! (multi-architecture) scratch image, reproducibly, with no container
//! engine: written as an OCI layout, an `oci-archive`, pushed to a
//! registry and/or loaded into podman or docker.
//!
//! `project` reads the cargo project, `platforms` maps OCI platforms to
//! installed targets, `cargo_build` builds them all in one cargo;
//! `dependencies` reads the crates cargo resolved per target, and
//! `auditable` embeds them in the binary as `.dep-v0`;
//! `layer` makes reproducible layers, `rootfs` says what goes in them,
//! `oci` assembles and writes the documents, `sbom` describes them and
//! `referrers` attaches those descriptions; `reference`, `credentials` and
//! `registry` push, `engine` loads; `signing` and `provenance` sign and
//! attest what was pushed, and `verify` checks it. This module checks the
//! inputs and runs the steps.

mod auditable;
mod cargo_build;
mod credentials;
mod dependencies;
mod engine;
mod layer;
mod oci;
mod platforms;
mod project;
mod provenance;
mod reference;
mod referrers;
mod registry;
mod rootfs;
mod sbom;
mod signing;
mod spec;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fastmusl_dist::elf::{ElfError, ElfFacts, OciPlatform};
use fastmusl_dist::sysroot::SysrootManifest;

use self::layer::Layer;
use self::oci::{Image, RuntimeConfig, hex_of};
use self::reference::Reference;
use self::rootfs::{Base, CA_BUNDLE_PATH, User};

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    action: Option<ImageAction>,
    /// The binary of the cargo project to build (cargo's --bin NAME), or a
    /// static binary built before, given by its path (one per
    /// architecture, read from its ELF header: `--bin
    /// target/x86_64-unknown-linux-musl/release/app --bin ...`). Without
    /// it, the package's only binary (or its default-run).
    #[arg(long = "bin", value_name = "NAME|PATH")]
    bins: Vec<String>,
    /// The platforms to build, comma-separated (`linux/amd64,linux/arm64`),
    /// or `all` [default: every installed target's platform].
    #[arg(long = "platform", value_name = "PLATFORMS")]
    platforms: Vec<String>,
    /// Install the targets --platform needs and this machine lacks, as
    /// `fastmusl target add` does (verified), instead of refusing.
    #[arg(long)]
    add_targets: bool,
    /// Path to Cargo.toml (as cargo's --manifest-path).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// The package to build (as cargo's -p).
    #[arg(short = 'p', long, value_name = "SPEC")]
    package: Option<String>,
    /// Features to activate (as cargo's --features).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    features: Vec<String>,
    /// Activate all features (as cargo's).
    #[arg(long)]
    all_features: bool,
    /// Do not activate the default feature (as cargo's).
    #[arg(long)]
    no_default_features: bool,
    /// Build with this profile [default: release].
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Require Cargo.lock to be up to date (as cargo's --locked).
    #[arg(long)]
    locked: bool,
    /// The image's name and tag; the tag names it in --oci-dir and
    /// --oci-archive, and is the default tag of --push and --load [default
    /// for a cargo project: PACKAGE:VERSION].
    #[arg(long, value_name = "NAME:TAG")]
    tag: Option<String>,
    /// Write (or add to) an OCI image layout directory (`oci:DIR:TAG` for
    /// skopeo and umoci).
    #[arg(long, value_name = "DIR")]
    oci_dir: Option<PathBuf>,
    /// Write an oci-archive file (for `podman load`, `skopeo copy
    /// oci-archive:FILE ...`).
    #[arg(long, value_name = "FILE")]
    oci_archive: Option<PathBuf>,
    /// Push to a registry. HTTPS; plain HTTP only for loopback registries.
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]")]
    push: Option<String>,
    /// Load the image into a local container engine through its own
    /// `load` (podman; docker 25 or later), as --tag.
    #[arg(long, value_name = "ENGINE")]
    load: Option<engine::Engine>,
    #[command(flatten)]
    access: registry::AccessArgs,
    /// Where the binary goes in the image [default: /app/<its file name>].
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// The user the program runs as, NAME[:UID[:GID]]; `root` for uid 0.
    #[arg(long, default_value = "nonroot:65532:65532")]
    user: User,
    /// Add the certificates of a PEM file to the CA bundle (repeatable).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Use this PEM file as the whole CA bundle instead of Mozilla's roots.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Add time zones (zoneinfo) from DIR [default: /usr/share/zoneinfo].
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "/usr/share/zoneinfo")]
    tzdata: Option<PathBuf>,
    /// An environment variable, K=V (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    envs: Vec<String>,
    /// A port the program listens on, PORT[/tcp|/udp] (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<String>,
    /// A label, K=V (repeatable).
    #[arg(long = "label", value_name = "K=V")]
    labels: Vec<String>,
    /// The source repository's URL (label org.opencontainers.image.source).
    #[arg(long, value_name = "URL")]
    source: Option<String>,
    /// The source revision (label org.opencontainers.image.revision).
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// The working directory [default: the user's home].
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// Sign what is pushed with this P-256 private key (PKCS#8 PEM, as
    /// `fastmusl image keygen` writes): cosign-format signatures of the
    /// index and each platform manifest, and an SLSA provenance
    /// attestation. Needs --push.
    #[arg(long, value_name = "KEY", env = "FASTMUSL_SIGN_KEY")]
    sign_key: Option<PathBuf>,
    /// The builder the provenance names [default: fastmusl run locally;
    /// in CI, name the workflow, e.g. its URL].
    #[arg(long, value_name = "URI")]
    builder_id: Option<String>,
    /// Attach no SBOM (by default each platform image and the index get an
    /// SPDX 2.3 SBOM, attached as an OCI 1.1 artifact).
    #[arg(long)]
    no_sbom: bool,
    /// Print the digests as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Arguments given to the program (the image's Cmd), after `--`.
    #[arg(last = true, value_name = "ARGS")]
    cmd: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
enum ImageAction {
    /// Write a P-256 signing key pair for --sign-key: PREFIX.key (PKCS#8
    /// PEM, readable by you only) and PREFIX.pub (what cosign calls
    /// cosign.pub).
    Keygen {
        /// Where the pair goes.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_key_prefix: PathBuf,
    },
    /// Check a pushed image's signatures (the index's and each platform
    /// manifest's) and its provenance against a public key.
    Verify(verify::VerifyArgs),
}

/// One input binary, what its header says, and what it was made of.
struct Binary {
    path: PathBuf,
    platform: OciPlatform,
    bytes: Vec<u8>,
    /// Its crates: cargo's resolve when fastmusl built it, else its
    /// `.dep-v0` section, if any.
    crates: Option<dependencies::DependencyGraph>,
    /// The sysroot that linked it and its manifest's SHA-256, when fastmusl
    /// built it.
    sysroot: Option<(SysrootManifest, String)>,
}

/// Where an image's binaries came from, and what that says about it.
struct Inputs {
    binaries: Vec<Binary>,
    /// `SOURCE_DATE_EPOCH`, else the project's last commit's time, else 0.
    epoch: u64,
    /// `PACKAGE:VERSION` for a cargo project.
    default_tag: Option<String>,
    /// The `org.opencontainers.image.*` labels the package implies.
    labels: BTreeMap<String, String>,
    /// What the provenance says of the build, but for what is known only
    /// once it is pushed (subjects, repository, command, builder).
    provenance: provenance::Provenance,
}

/// Installs targets as `fastmusl target add` does (the command lives
/// with the other commands; the library only asks for it).
pub type AddTargets<'a> = &'a dyn Fn(&[String]) -> Result<()>;

pub fn run(mut args: ImageArgs, out: &crate::Output, add_targets: AddTargets) -> Result<()> {
    match args.action.take() {
        Some(ImageAction::Keygen { output_key_prefix }) => {
            let (private, public) = signing::keygen(&output_key_prefix)?;
            out.info(&format!(
                "wrote {} (keep it secret) and {} (give it to those who verify)",
                private.display(),
                public.display()
            ));
            return Ok(());
        }
        Some(ImageAction::Verify(verify_args)) => return verify::run(&verify_args, out),
        None => {}
    }
    let quiet = out.quiet;
    if args.oci_dir.is_none()
        && args.oci_archive.is_none()
        && args.push.is_none()
        && args.load.is_none()
    {
        bail!(
            "say where the image goes: --oci-dir DIR, --oci-archive FILE, --push REF and/or \
             --load podman"
        );
    }
    // The names are checked before anything is built.
    if let Some(tag) = &args.tag {
        Reference::parse(tag, None).context("--tag")?;
    }
    if let Some(push) = &args.push {
        Reference::parse(push, Some("latest")).context("--push")?;
    }
    let sign_key = match &args.sign_key {
        Some(_) if args.push.is_none() => bail!(
            "--sign-key signs what is pushed (signatures live in the registry, beside the \
             image): add --push REGISTRY/REPO[:TAG]"
        ),
        Some(path) => Some(signing::read_signing_key(path)?),
        None => None,
    };
    let inputs = match prebuilt_paths(&args)? {
        Some(paths) => {
            let binaries = read_binaries(&paths)?;
            let epoch = fastmusl_dist::reproducible::source_date_epoch()?.unwrap_or(0);
            let mut provenance = empty_provenance(epoch);
            provenance.prebuilt = binaries
                .iter()
                .map(|b| provenance::PrebuiltBinary {
                    platform: b.platform.to_string(),
                    file_name: b
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    sha256: hex_of(&layer::sha256_digest(&b.bytes)).to_owned(),
                })
                .collect();
            Inputs {
                binaries,
                epoch,
                default_tag: None,
                labels: BTreeMap::new(),
                provenance,
            }
        }
        None => from_cargo(&args, out, add_targets)?,
    };
    let tag = match (&args.tag, &inputs.default_tag) {
        (Some(tag), _) | (None, Some(tag)) => tag.clone(),
        (None, None) => bail!("name the image with --tag NAME:TAG"),
    };
    let name_tag = Reference::parse(&tag, None).with_context(|| "--tag")?;
    let push = args
        .push
        .as_deref()
        .map(|r| Reference::parse(r, Some(&name_tag.tag)).context("--push"))
        .transpose()?;
    let binaries = inputs.binaries;
    let path = image_path(&args, &binaries)?;
    let epoch = inputs.epoch;
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch),
    )
    .to_string();

    let base = Base {
        user: args.user.clone(),
        ca_bundle: ca_bundle(&args)?,
        tzdata: args.tzdata.clone(),
    };
    let base_layer = Layer::build(&base.entries()?, epoch)?;
    let apps = binaries
        .iter()
        .map(|b| {
            let layer = Layer::build(&rootfs::app_entries(b.bytes.clone(), &path), epoch)?;
            Ok((b.platform, layer))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = runtime_config(&args, &path, created.clone(), inputs.labels)?;
    let image = Image::assemble(&base_layer, &apps, &config)?;
    let say = |line: String| {
        if !quiet && !args.json {
            eprintln!("{line}");
        }
    };
    let attachments = if args.no_sbom {
        Vec::new()
    } else {
        let base_contents = sbom::BaseContents {
            mozilla_roots: (args.ca_bundle.is_none() && args.ca_files.is_empty())
                .then(|| rootfs::MOZILLA_ROOTS_VERSION.to_owned()),
            ca_bundle: base.ca_bundle.clone(),
            tzdata: args
                .tzdata
                .as_deref()
                .map(|z| rootfs::tzdata_version(z).unwrap_or_else(|| "NOASSERTION".into())),
        };
        let identity = sbom::ImageIdentity {
            name: name_tag.name(),
            tag: &name_tag.tag,
            repository_url: push
                .as_ref()
                .map(|r| format!("{}/{}", r.registry, r.repository)),
            index_digest: image.index.as_ref().map(|i| i.digest.as_str()),
            created: &created,
        };
        let sboms = sbom_documents(&identity, &image, &binaries, &base_contents)?;
        for gap in &sboms.gaps {
            out.warn(&format!("SBOM: {gap}"));
        }
        sbom_artifacts(&image, sboms, &created)?
    };
    say(format!(
        "built {tag} ({}), {}",
        image
            .manifests
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        image.top().digest
    ));
    if image.index.is_some() {
        for (platform, manifest) in &image.manifests {
            say(format!(
                "  {:<16} {}",
                platform.to_string(),
                manifest.digest
            ));
        }
    }

    if let Some(dir) = &args.oci_dir {
        image.write_layout(dir, &name_tag.tag)?;
        referrers::attach_in_layout(dir, &attachments)?;
        say(format!("wrote oci:{}:{}", dir.display(), name_tag.tag));
    }
    if let Some(file) = &args.oci_archive {
        image.write_archive(file, &name_tag.tag)?;
        say(format!("wrote oci-archive:{}", file.display()));
    }
    if let Some(engine) = args.load {
        let said = engine::load(engine, &image, &tag)?;
        say(format!("loaded {tag} into {}: {said}", engine.program()));
    }
    let mut pushed = None;
    if let Some(reference) = &push {
        // Blob by blob on a terminal (or with -v); a log gets the summary.
        let progress = !quiet && !args.json && (out.verbose || std::io::stderr().is_terminal());
        let mut provenance = inputs.provenance;
        provenance.repository = format!("{}/{}", reference.registry, reference.repository);
        provenance.subjects = std::iter::once(image.top())
            .chain(
                image
                    .index
                    .iter()
                    .flat_map(|_| image.manifests.iter().map(|(_, m)| m)),
            )
            .map(|blob| blob.digest.clone())
            .collect();
        provenance.command = std::env::args().collect();
        provenance.builder_id = args
            .builder_id
            .clone()
            .unwrap_or_else(|| provenance::LOCAL_BUILDER.to_owned());
        let signing = sign_key.as_ref().map(|key| (key, &provenance));
        let report = push_image(
            &image,
            &attachments,
            signing,
            reference,
            &args.access,
            progress,
        )?;
        say(format!(
            "pushed {reference}@{}: {} blobs uploaded ({}), {} already there",
            image.top().digest,
            report.uploaded.len(),
            human_bytes(report.uploaded_bytes),
            report.skipped.len()
        ));
        if sign_key.is_some() {
            say(format!(
                "signed {} ({} new signatures) and attested its provenance",
                image.top().digest,
                report.signatures_added
            ));
        }
        if !attachments.is_empty() {
            say(format!(
                "attached {} ({} new in referrers indexes)",
                attachments
                    .iter()
                    .map(|a| a.what.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                report.referrers_added
            ));
        }
        pushed = Some((reference.to_string(), report));
    }
    if args.json {
        println!("{}", json_summary(&image, &attachments, pushed.as_ref())?);
    }
    Ok(())
}

/// The `--bin` paths of binaries built before, or `None` for a cargo
/// project's build (no `--bin`, or one binary's name). A value with a `/`
/// is a path.
fn prebuilt_paths(args: &ImageArgs) -> Result<Option<Vec<PathBuf>>> {
    let (paths, names): (Vec<&String>, Vec<&String>) =
        args.bins.iter().partition(|b| b.contains('/'));
    if paths.is_empty() {
        if names.len() > 1 {
            bail!(
                "--bin {}: an image holds one program; for binaries built before, give their \
                 paths (./target/.../NAME), one per architecture",
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" --bin ")
            );
        }
        return Ok(None);
    }
    if let Some(name) = names.first() {
        bail!(
            "--bin {name} names a cargo binary while other --bin values are paths: give a path \
             for each binary built before (./{name}), or one binary name to build"
        );
    }
    let cargo_only = [
        ("--platform", !args.platforms.is_empty()),
        ("--add-targets", args.add_targets),
        ("--manifest-path", args.manifest_path.is_some()),
        ("--package", args.package.is_some()),
        ("--features", !args.features.is_empty()),
        ("--all-features", args.all_features),
        ("--no-default-features", args.no_default_features),
        ("--profile", args.profile.is_some()),
        ("--locked", args.locked),
    ];
    if let Some((option, _)) = cargo_only.iter().find(|(_, given)| *given) {
        bail!(
            "{option} is for building a cargo project, and the --bin values are binaries built \
             before; their platforms are read from them"
        );
    }
    Ok(Some(paths.into_iter().map(PathBuf::from).collect()))
}

/// Builds the cargo project in one cargo for every platform asked for,
/// and checks that each binary is the platform its target's sysroot says.
fn from_cargo(args: &ImageArgs, out: &crate::Output, add_targets: AddTargets) -> Result<Inputs> {
    let project = project::Project::read(&project::ProjectSelection {
        manifest_path: args.manifest_path.clone(),
        package: args.package.clone(),
        bin: args.bins.first().cloned(),
    })?;
    let head = project.git_head();
    let epoch = match fastmusl_dist::reproducible::source_date_epoch()? {
        Some(epoch) => epoch,
        None => head.as_ref().map_or(0, |h| h.time),
    };
    if let Some(head) = head.as_ref().filter(|h| h.dirty) {
        out.warn(&format!(
            "{} has uncommitted changes: the image is built from them, not from commit {}, \
             and its digests are not that commit's",
            project.workspace_root.display(),
            head.commit
        ));
    }
    let home = crate::home::FastmuslHome::from_env()?;
    let state = crate::home::InstallState::load(&home)?;
    let installed = platforms::installed(&home, &state)?;
    let request = platforms::PlatformRequest::parse(&args.platforms);
    let platforms::Resolved { chosen, to_add } =
        platforms::resolve(&request, &installed, args.add_targets, || {
            offered_platforms(&home, &state)
        })?;
    if !to_add.is_empty() {
        out.info(&format!("adding {}", to_add.join(", ")));
        add_targets(&to_add)?;
    }
    let triples: Vec<String> = chosen.iter().map(|(_, t)| t.clone()).collect();
    out.info(&format!(
        "building {} ({} {}) for {}",
        project.bin,
        project.package,
        project.version,
        chosen
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let started = std::time::Instant::now();
    let options = cargo_build::BuildOptions {
        features: args.features.clone(),
        all_features: args.all_features,
        no_default_features: args.no_default_features,
        profile: args.profile.clone(),
        locked: args.locked,
        quiet: out.quiet,
    };
    // The sysroots (installed now, --add-targets included), and per
    // target the crates cargo resolves and the `.dep-v0` object naming them.
    let state = if to_add.is_empty() {
        state
    } else {
        crate::home::InstallState::load(&home)?
    };
    let mut made_of = BTreeMap::new();
    let mut link_flags = BTreeMap::new();
    let mut build_std_toolchains = BTreeMap::new();
    let mut sysroots_used = Vec::new();
    for triple in &triples {
        let installed = state
            .targets
            .get(triple)
            .with_context(|| format!("{triple} is not installed"))?;
        let sysroot = home.sysroot(triple, installed);
        let manifest = SysrootManifest::read(&sysroot)?;
        let manifest_sha256 = layer::sha256_digest(
            &std::fs::read(sysroot.join(fastmusl_dist::sysroot::MANIFEST_FILE))
                .context("reading the sysroot manifest")?,
        );
        let graph = dependencies::DependencyGraph::resolve(&project, triple, &options)?;
        let object = dependency_list_object(&project, triple, &graph, &sysroot)?;
        link_flags.insert(triple.clone(), auditable::rustc_flags(&object));
        build_std_toolchains.insert(
            triple.clone(),
            manifest.wiring.build_std_toolchain().to_owned(),
        );
        let manifest_sha256 = manifest_sha256.trim_start_matches("sha256:").to_owned();
        sysroots_used.push(provenance::SysrootUsed {
            platform: manifest.wiring.platform.clone().unwrap_or_default(),
            triple: triple.clone(),
            version: manifest.version.clone(),
            flavor: manifest.flavor.clone(),
            manifest_sha256: manifest_sha256.clone(),
        });
        made_of.insert(triple.clone(), (graph, (manifest, manifest_sha256)));
    }
    let paths = cargo_build::build(
        &project,
        &triples,
        &options,
        epoch,
        &build_std_toolchains,
        &link_flags,
    )?;
    out.detail(&format!(
        "cargo built {} binaries in {:.1} s",
        paths.len(),
        started.elapsed().as_secs_f64()
    ));
    let mut binaries = read_binaries(&paths)?;
    for binary in &mut binaries {
        let triple = triples.iter().find(|t| {
            binary
                .path
                .starts_with(project.target_directory.join(t.as_str()))
        });
        if let Some((graph, sysroot)) = triple.and_then(|t| made_of.remove(t)) {
            if binary.crates.is_none() {
                bail!(
                    "{}: the linker dropped the {} section fastmusl gave it",
                    binary.path.display(),
                    auditable::SECTION
                );
            }
            binary.crates = Some(graph);
            binary.sysroot = Some(sysroot);
        }
    }
    for (platform, triple) in &chosen {
        if !binaries.iter().any(|b| &b.platform.to_string() == platform) {
            let built = binaries
                .iter()
                .find(|b| b.path.starts_with(project.target_directory.join(triple)))
                .map(|b| b.platform.to_string())
                .unwrap_or_default();
            bail!(
                "the {triple} sysroot says its binaries are {platform}, but cargo's {triple} \
                 binary is {built}: the sysroot's manifest is wrong; reinstall it with \
                 `fastmusl target add {triple}`"
            );
        }
    }
    let mut labels = BTreeMap::from([
        (LABEL_TITLE.to_owned(), project.package.clone()),
        (LABEL_VERSION.to_owned(), project.version.clone()),
    ]);
    if let Some(license) = &project.license {
        labels.insert(LABEL_LICENSES.to_owned(), license.clone());
    }
    if let Some(repository) = &project.repository {
        labels.insert(LABEL_SOURCE.to_owned(), repository.clone());
    }
    if let Some(head) = &head {
        labels.insert(LABEL_REVISION.to_owned(), head.commit.clone());
    }
    let mut provenance = empty_provenance(epoch);
    provenance.source = head.as_ref().map(|h| provenance::Source {
        repository: project.repository.clone(),
        commit: h.commit.clone(),
        dirty: h.dirty,
    });
    provenance.package = Some((
        project.package.clone(),
        project.version.clone(),
        project.bin.clone(),
    ));
    provenance.profile = options.profile.clone();
    provenance.features = options.features.clone();
    provenance.platforms = chosen.iter().map(|(p, _)| p.clone()).collect();
    provenance.cargo_lock_sha256 = std::fs::read(project.workspace_root.join("Cargo.lock"))
        .ok()
        .map(|lock| hex_of(&layer::sha256_digest(&lock)).to_owned());
    provenance.sysroots = sysroots_used;
    Ok(Inputs {
        binaries,
        epoch,
        default_tag: Some(format!("{}:{}", project.package, project.version)),
        labels,
        provenance,
    })
}

/// Writes the `.dep-v0` object for `triple` into cargo's target directory
/// (where `cargo clean` removes it); its path.
fn dependency_list_object(
    project: &project::Project,
    triple: &str,
    graph: &dependencies::DependencyGraph,
    sysroot: &Path,
) -> Result<PathBuf> {
    let info = dependencies::to_auditable(graph)?;
    let contents = auditable::section_bytes(&info)?;
    let object = auditable::section_object(&contents, &sysroot.join("lib/crt1.o"))?;
    let dir = project.target_directory.join("fastmusl").join(triple);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("dep-v0.o");
    // Rewritten only when it changes, so cargo's link step sees the same file.
    if std::fs::read(&path).ok().as_deref() != Some(&object[..]) {
        std::fs::write(&path, &object).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// The platforms of the targets the signed channel manifest offers.
fn offered_platforms(
    home: &crate::home::FastmuslHome,
    state: &crate::home::InstallState,
) -> Result<platforms::PlatformMap> {
    let server = crate::dist_server::DistServer::from_env()?;
    let verified =
        crate::manifest::fetch_verified(&server, home, state.accepted_release_timestamp, false)
            .context("a platform is not installed, and the list of those offered is unreadable")?;
    Ok(verified
        .manifest
        .sysroot
        .target
        .iter()
        .filter_map(|(triple, artifact)| Some((artifact.wiring.platform.clone()?, triple.clone())))
        .collect())
}

const LABEL_TITLE: &str = "org.opencontainers.image.title";
const LABEL_VERSION: &str = "org.opencontainers.image.version";
const LABEL_LICENSES: &str = "org.opencontainers.image.licenses";
const LABEL_SOURCE: &str = "org.opencontainers.image.source";
const LABEL_REVISION: &str = "org.opencontainers.image.revision";
const LABEL_CREATED: &str = "org.opencontainers.image.created";

fn read_binaries(paths: &[PathBuf]) -> Result<Vec<Binary>> {
    let mut seen: BTreeMap<OciPlatform, PathBuf> = BTreeMap::new();
    let mut binaries = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let facts = match ElfFacts::parse(&bytes) {
            Ok(facts) => facts,
            Err(ElfError::NotElf) => bail!(
                "{} is not an ELF executable: give the binary cargo built \
                 (target/<triple>/release/NAME)",
                path.display()
            ),
            Err(e) => bail!("{}: {e}", path.display()),
        };
        if !facts.is_static() {
            bail!(
                "{} is dynamically linked (it names a program interpreter), and a scratch image \
                 has no loader or libc: build it for a fastmusl target, e.g. `cargo build \
                 --release --target x86_64-unknown-linux-musl`",
                path.display()
            );
        }
        let Some(platform) = facts.oci_platform() else {
            if facts.is_arm32() {
                bail!(
                    "{}: a 32-bit Arm binary without a Tag_CPU_arch attribute (its \
                     .ARM.attributes section) naming v5, v6, v7 or v8, so its OCI platform \
                     variant is unknown: give the binary as the linker wrote it, not stripped \
                     of that section",
                    path.display()
                );
            }
            bail!(
                "{}: a {} binary, for which fastmusl image does not know the OCI platform",
                path.display(),
                facts.machine_name()
            );
        };
        if let Some(first) = seen.insert(platform, path.clone()) {
            bail!(
                "{} and {} are both {platform} binaries: give one binary per architecture",
                first.display(),
                path.display()
            );
        }
        let crates = auditable::read(&bytes)
            .with_context(|| path.display().to_string())?
            .map(|info| dependencies::from_auditable(&info));
        binaries.push(Binary {
            path: path.clone(),
            platform,
            bytes,
            crates,
            sysroot: None,
        });
    }
    // The index lists platforms in a fixed order, whatever the order of
    // --bin.
    binaries.sort_by_key(|b| b.platform);
    Ok(binaries)
}

/// `--path`, or `/app/<name>` when every binary has the same file name.
fn image_path(args: &ImageArgs, binaries: &[Binary]) -> Result<String> {
    if let Some(path) = &args.path {
        if !path.starts_with('/') || path.ends_with('/') || path.split('/').any(|c| c == "..") {
            bail!("--path {path}: give an absolute file path, such as /app/server");
        }
        return Ok(path.clone());
    }
    let names: BTreeSet<String> = binaries
        .iter()
        .map(|b| {
            b.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    match names.into_iter().collect::<Vec<_>>().as_slice() {
        [name] if !name.is_empty() => Ok(format!("/app/{name}")),
        names => bail!(
            "the binaries have different file names ({}): say where the program goes with --path",
            names.join(", ")
        ),
    }
}

fn ca_bundle(args: &ImageArgs) -> Result<Vec<u8>> {
    let read_pem = |path: &Path| -> Result<Vec<u8>> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        rootfs::check_pem_certificates(path, &bytes)?;
        Ok(bytes)
    };
    let mut bundle = match &args.ca_bundle {
        Some(path) => read_pem(path)?,
        None => rootfs::mozilla_roots_pem(),
    };
    for path in &args.ca_files {
        if !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend(read_pem(path)?);
    }
    Ok(bundle)
}

fn key_value<'a>(option: &str, pair: &'a str) -> Result<(&'a str, &'a str)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("{option} {pair}: expected KEY=VALUE"),
    }
}

/// The image's config. Labels: `package_labels` (from the cargo project),
/// then `--source`/`--revision`, then `--label`, each replacing the one
/// before.
fn runtime_config(
    args: &ImageArgs,
    path: &str,
    created: String,
    package_labels: BTreeMap<String, String>,
) -> Result<RuntimeConfig> {
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!("{dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ),
        ("SSL_CERT_FILE".to_owned(), CA_BUNDLE_PATH.to_owned()),
    ]);
    for pair in &args.envs {
        let (k, v) = key_value("--env", pair)?;
        env.insert(k.to_owned(), v.to_owned());
    }
    let mut labels = package_labels;
    labels.insert(LABEL_CREATED.to_owned(), created.clone());
    if let Some(source) = &args.source {
        labels.insert(LABEL_SOURCE.into(), source.clone());
    }
    if let Some(revision) = &args.revision {
        labels.insert(LABEL_REVISION.into(), revision.clone());
    }
    for pair in &args.labels {
        let (k, v) = key_value("--label", pair)?;
        labels.insert(k.to_owned(), v.to_owned());
    }
    let exposed_ports = args
        .ports
        .iter()
        .map(|p| {
            let (number, protocol) = p.split_once('/').unwrap_or((p, "tcp"));
            match (number.parse::<u16>(), protocol) {
                (Ok(n), "tcp" | "udp" | "sctp") if n > 0 => Ok(format!("{n}/{protocol}")),
                _ => bail!("--port {p}: expected PORT or PORT/tcp, PORT/udp"),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RuntimeConfig {
        user: format!("{}:{}", args.user.uid, args.user.gid),
        entrypoint: vec![path.to_owned()],
        cmd: args.cmd.clone(),
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: args.workdir.clone().unwrap_or_else(|| args.user.home()),
        exposed_ports,
        labels,
        created,
    })
}

/// What a push did, blob by blob (the image's; the attachments' are
/// counted apart).
#[derive(Debug, Default)]
pub struct PushReport {
    pub uploaded: Vec<String>,
    pub uploaded_bytes: u64,
    pub skipped: Vec<String>,
    /// Blobs the attachments uploaded.
    pub attachment_blobs: usize,
    /// Artifacts newly listed in a referrers index (fallback tags).
    pub referrers_added: usize,
    /// Signatures and attestations not there before.
    pub signatures_added: usize,
}

/// Blobs first (those the registry has are skipped), then each manifest by
/// digest, and only then the tag: a push that fails anywhere leaves the
/// tag as it was. The attachments (SBOMs) follow the tag, each with its
/// blobs, its manifest and then its place in the referrers index; a
/// failure there says which are missing.
fn push_image(
    image: &Image,
    attachments: &[referrers::Artifact],
    signing: Option<(&p256::ecdsa::SigningKey, &provenance::Provenance)>,
    reference: &Reference,
    access: &registry::AccessArgs,
    progress: bool,
) -> Result<PushReport> {
    let mut registry = registry::Registry::connect(reference, access)?;
    let mut report = PushReport::default();
    upload_blobs(&mut registry, &image.blobs, &mut report, progress)?;
    if image.index.is_some() {
        for (platform, manifest) in &image.manifests {
            if progress {
                eprintln!("  manifest {} ({platform})", manifest.digest);
            }
            registry.put_manifest(&manifest.digest, manifest)?;
        }
    }
    if progress {
        eprintln!("  tag      {} → {}", reference.tag, image.top().digest);
    }
    registry.put_manifest(&reference.tag, image.top())?;
    let mut attached = PushReport::default();
    for (i, artifact) in attachments.iter().enumerate() {
        attach(&mut registry, artifact, &mut attached, progress).with_context(|| {
            format!(
                "{reference} is pushed ({}), but not all that belongs to it is attached: \
                 missing {}; push again to attach them",
                image.top().digest,
                attachments[i..]
                    .iter()
                    .map(|a| a.what.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    }
    report.attachment_blobs = attached.uploaded.len();
    report.referrers_added = attached.referrers_added;
    if let Some((key, provenance)) = signing {
        let repository = format!("{}/{}", reference.registry, reference.repository);
        let mut signed = PushReport::default();
        sign_and_attest(
            &mut registry,
            image,
            &repository,
            key,
            provenance,
            &mut signed,
            progress,
        )
        .with_context(|| {
            format!(
                "{reference} is pushed ({}) with its SBOMs, but its signatures or \
                     provenance are missing; push again with --sign-key to add them",
                image.top().digest
            )
        })?;
        report.attachment_blobs += signed.uploaded.len();
        report.signatures_added = signed.signatures_added;
    }
    Ok(report)
}

/// cosign-format signatures of what the tag names and of each platform
/// manifest, then the provenance attestation of what the tag names.
fn sign_and_attest(
    registry: &mut registry::Registry,
    image: &Image,
    repository: &str,
    key: &p256::ecdsa::SigningKey,
    provenance: &provenance::Provenance,
    report: &mut PushReport,
    progress: bool,
) -> Result<()> {
    let signed: Vec<&oci::Blob> = std::iter::once(image.top())
        .chain(
            image
                .index
                .iter()
                .flat_map(|_| image.manifests.iter().map(|(_, m)| m)),
        )
        .collect();
    for blob in signed {
        let payload = signing::simple_signing_payload(repository, &blob.digest)?;
        let signature = signing::sign(key, &payload);
        let layer = signing::SignedLayer {
            media_type: signing::SIMPLE_SIGNING_TYPE,
            content: payload,
            annotations: BTreeMap::from([(signing::SIGNATURE_ANNOTATION.to_owned(), signature)]),
        };
        put_cosign_layer(
            registry,
            &signing::cosign_tag(&blob.digest, "sig"),
            layer,
            report,
            progress,
        )
        .with_context(|| format!("signing {}", blob.digest))?;
    }
    let envelope = signing::dsse_envelope(key, &provenance.statement()?)?;
    let layer = signing::SignedLayer {
        media_type: signing::DSSE_TYPE,
        content: envelope,
        annotations: BTreeMap::from([
            (signing::SIGNATURE_ANNOTATION.to_owned(), String::new()),
            (
                "predicateType".to_owned(),
                provenance::PREDICATE_TYPE.to_owned(),
            ),
        ]),
    };
    let tag = signing::cosign_tag(&image.top().digest, "att");
    put_cosign_layer(registry, &tag, layer, report, progress)
        .context("attaching the provenance attestation")
}

/// Adds a layer to the cosign manifest under `tag` (kept as it was when
/// the layer is there already).
fn put_cosign_layer(
    registry: &mut registry::Registry,
    tag: &str,
    layer: signing::SignedLayer,
    report: &mut PushReport,
    progress: bool,
) -> Result<()> {
    let existing = registry.get_manifest(tag)?;
    let (manifest, blobs, changed) =
        signing::cosign_manifest(existing.as_ref().map(|b| &b.bytes[..]), layer)?;
    if !changed {
        return Ok(());
    }
    upload_blobs(registry, &blobs, report, progress)?;
    if progress {
        eprintln!("  sign     {tag}");
    }
    registry.put_manifest(tag, &manifest)?;
    report.signatures_added += 1;
    Ok(())
}

/// A provenance with nothing known yet about the build.
fn empty_provenance(epoch: u64) -> provenance::Provenance {
    provenance::Provenance {
        repository: String::new(),
        subjects: Vec::new(),
        command: Vec::new(),
        builder_id: String::new(),
        source: None,
        package: None,
        profile: None,
        features: Vec::new(),
        platforms: Vec::new(),
        cargo_lock_sha256: None,
        sysroots: Vec::new(),
        prebuilt: Vec::new(),
        rustc: provenance::rustc_version(),
        source_date_epoch: epoch,
    }
}

fn upload_blobs(
    registry: &mut registry::Registry,
    blobs: &[oci::Blob],
    report: &mut PushReport,
    progress: bool,
) -> Result<()> {
    for blob in blobs {
        if registry.has_blob(&blob.digest)? {
            if progress {
                eprintln!("  exists   {}", blob.digest);
            }
            report.skipped.push(blob.digest.clone());
            continue;
        }
        if progress {
            eprintln!(
                "  upload   {} ({})",
                blob.digest,
                human_bytes(blob.bytes.len() as u64)
            );
        }
        registry.upload_blob(blob)?;
        report.uploaded.push(blob.digest.clone());
        report.uploaded_bytes += blob.bytes.len() as u64;
    }
    Ok(())
}

/// One artifact: its blobs, its manifest by digest, and, unless the
/// registry answers that it lists referrers itself (`OCI-Subject`), its
/// entry in the referrers index under the subject's fallback tag.
fn attach(
    registry: &mut registry::Registry,
    artifact: &referrers::Artifact,
    report: &mut PushReport,
    progress: bool,
) -> Result<()> {
    upload_blobs(registry, &artifact.blobs, report, progress)?;
    if progress {
        eprintln!(
            "  attach   {} ({})",
            artifact.manifest.digest, artifact.what
        );
    }
    let subject =
        registry.put_manifest_with_subject(&artifact.manifest.digest, &artifact.manifest)?;
    if subject.is_some() {
        return Ok(());
    }
    let tag = referrers::referrers_tag(&artifact.subject);
    let existing = registry.get_manifest(&tag)?;
    if let Some(index) =
        referrers::add_to_referrers_index(existing.as_ref().map(|b| &b.bytes[..]), artifact)?
    {
        registry.put_manifest(&tag, &index)?;
        report.referrers_added += 1;
    }
    Ok(())
}

/// The SBOM documents of `image`, one per platform manifest and one for
/// the index.
fn sbom_documents(
    identity: &sbom::ImageIdentity,
    image: &Image,
    binaries: &[Binary],
    base: &sbom::BaseContents,
) -> Result<sbom::Sboms> {
    let images: Vec<sbom::PlatformImage> = binaries
        .iter()
        .zip(&image.manifests)
        .map(|(binary, (platform, manifest))| {
            debug_assert_eq!(binary.platform, *platform);
            sbom::PlatformImage {
                platform: *platform,
                manifest_digest: manifest.digest.clone(),
                program: sbom::Program {
                    crates: binary.crates.as_ref(),
                    file_name: binary
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    bytes: &binary.bytes,
                    sysroot: binary.sysroot.as_ref().map(|(m, h)| (m, h.clone())),
                },
            }
        })
        .collect();
    sbom::build(identity, &images, base)
}

/// Each SBOM as an artifact about its manifest (or the index).
fn sbom_artifacts(
    image: &Image,
    sboms: sbom::Sboms,
    created: &str,
) -> Result<Vec<referrers::Artifact>> {
    let annotations = BTreeMap::from([(LABEL_CREATED.to_owned(), created.to_owned())]);
    let mut artifacts = Vec::new();
    for ((platform, document), (_, manifest)) in sboms.platforms.into_iter().zip(&image.manifests) {
        artifacts.push(sbom_artifact(
            format!("the SBOM of {platform}"),
            manifest,
            document,
            &annotations,
        )?);
    }
    if let (Some(document), Some(index)) = (sboms.index, &image.index) {
        artifacts.push(sbom_artifact(
            "the SBOM of the index".into(),
            index,
            document,
            &annotations,
        )?);
    }
    Ok(artifacts)
}

fn sbom_artifact(
    what: String,
    subject: &oci::Blob,
    document: Vec<u8>,
    annotations: &BTreeMap<String, String>,
) -> Result<referrers::Artifact> {
    referrers::Artifact::new(
        what,
        subject,
        sbom::MEDIA_TYPE,
        document,
        sbom::MEDIA_TYPE,
        BTreeMap::from([(
            "org.opencontainers.image.title".to_owned(),
            "sbom.spdx.json".to_owned(),
        )]),
        annotations.clone(),
    )
}

fn json_summary(
    image: &Image,
    attachments: &[referrers::Artifact],
    pushed: Option<&(String, PushReport)>,
) -> Result<String> {
    let manifests: BTreeMap<String, &str> = image
        .manifests
        .iter()
        .map(|(p, blob)| (p.to_string(), blob.digest.as_str()))
        .collect();
    let mut summary = serde_json::json!({
        "digest": image.top().digest,
        "media_type": image.top().media_type,
        "manifests": manifests,
        "base_layer": image.base_layer,
        "attachments": attachments
            .iter()
            .map(|a| serde_json::json!({
                "what": a.what,
                "artifact_type": a.artifact_type,
                "digest": a.manifest.digest,
                "subject": a.subject,
                "size": a.blobs.iter().map(|b| b.bytes.len()).sum::<usize>(),
            }))
            .collect::<Vec<_>>(),
    });
    if let Some((reference, report)) = pushed {
        summary["pushed"] = serde_json::json!({
            "reference": reference,
            "uploaded": report.uploaded,
            "skipped": report.skipped,
            "referrers_added": report.referrers_added,
            "signatures_added": report.signatures_added,
        });
    }
    Ok(serde_json::to_string_pretty(&summary)?)
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}
