//! `cargo xtask sysroot --target T`: builds (or reuses) the sysroots of one
//! target, one per flavor: musl with mimalloc as its allocator, crt objects,
//! musl and Linux UAPI headers, the wrappers in `bin/`, and
//! `fastmusl-sysroot.toml`.
//!
//! Steps: check the host tools; fingerprint every declared input and reuse
//! the existing sysroots if the fingerprint matches; fetch and verify the
//! sources; unpack, patch, configure and make musl in a fresh build
//! directory; install into a staging directory beside the destination; for
//! each further flavor, copy the stage and replace its libc.a with one whose
//! mimalloc object is compiled with the flavor's flags (the rest of musl is
//! built once); rename the stages into place, so an interrupted build never
//! leaves a half-made sysroot where a finished one is expected.

use std::{
    fs::File,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use fastmusl_dist::{
    flavor,
    sysroot::{SysrootManifest, SysrootWiring},
};
use serde::{Deserialize, Serialize};
use xshell::{Shell, cmd};

use crate::{
    build_log::BuildLog,
    fetch::{self, VerifiedSource},
    host_fs::{copy_tree, host_tool_path},
    libcxx,
    link_runtime::{self, RuntimeBuild},
    pins::{self, SourcePin, SourcePins},
    platforms::{FlavorRow, PlatformTable, TargetPlatform, TargetTriple},
    project_root,
    tree_hash::{Tree, sha256_hex},
    wrappers,
};

mod musl_build;
mod release_musl;

pub use release_musl::build_release_musl;

pub use fastmusl_dist::sysroot::MANIFEST_FILE;
use musl_build::MuslBuild;

/// The Linux UAPI header directories copied into the sysroot.
pub const UAPI_DIRS: [&str; 3] = ["linux", "asm", "asm-generic"];

/// Where a sysroot keeps the licenses of what it holds, one directory per
/// component: libc.a and libc++.a go into users' binaries, and MIT and
/// Apache-2.0 ask that their notices travel with copies.
pub const LICENSES_DIR: &str = "share/licenses";

/// Copies each component's license file (from its pinned, unpacked
/// source; the UAPI headers' from the Debian package they come from) to
/// `share/licenses/<component>/`.
fn copy_licenses(stage: &Path, licenses: &[(&str, PathBuf)]) -> Result<()> {
    for (component, file) in licenses {
        let dir = stage.join(LICENSES_DIR).join(component);
        std::fs::create_dir_all(&dir)?;
        let name = file.file_name().context("a license file has a name")?;
        std::fs::copy(file, dir.join(name))
            .with_context(|| format!("copying {component}'s license {}", file.display()))?;
    }
    Ok(())
}

/// The files of optimized-routines' `string/aarch64/` that the wrappers in
/// patches/musl/0003 include (from `src/string/aarch64/optimized-routines/`,
/// a directory musl's build does not glob), and its licence.
const OPTIMIZED_ROUTINES_FILES: [&str; 12] = [
    "string/aarch64/asmdefs.h",
    "string/aarch64/memcpy-advsimd.S",
    "string/aarch64/memcpy-sve.S",
    "string/aarch64/memcpy-mops.S",
    "string/aarch64/memmove-mops.S",
    "string/aarch64/memset.S",
    "string/aarch64/memset-sve.S",
    "string/aarch64/memset-mops.S",
    "string/aarch64/memcmp.S",
    "string/aarch64/strlen.S",
    "string/aarch64/memchr.S",
    "LICENSE",
];

/// Host tools the build runs, with the Debian package that provides each.
const HOST_TOOLS: [(&str, &str); 10] = [
    ("clang", "clang"),
    ("llvm-ar", "llvm"),
    ("llvm-ranlib", "llvm"),
    ("llvm-objcopy", "llvm"),
    ("make", "make"),
    ("patch", "patch"),
    (libcxx::CC, "clang-19"),
    (libcxx::CXX, "clang-19"),
    ("cmake", "cmake"),
    ("ninja", "ninja-build"),
];

pub struct SysrootRequest {
    pub triple: TargetTriple,
    /// A directory holding the pinned source archives, instead of downloading.
    pub mirror: Option<PathBuf>,
    /// Where sysroots go: `<out_root>/<triple>/` for the default flavor,
    /// `<out_root>/<flavor>/<triple>/` for the others (`sysroot_dir`).
    pub out_root: PathBuf,
    /// Flavors to build beside the table's, for measurements only (the
    /// bench's study of mimalloc's secure levels); they are part of the
    /// fingerprint, so give them an `out_root` of their own.
    pub extra_flavors: Vec<FlavorRow>,
}

/// The table's flavors with `chosen` moved last (the line `cargo xtask
/// sysroot` ends with), or an error naming the flavors there are.
pub fn flavors_ending_with(flavors: &[String], chosen: &str) -> Result<Vec<String>> {
    if !flavors.iter().any(|f| f == chosen) {
        bail!(
            "--flavor {chosen}: no such flavor; sysroots/targets.toml has {}",
            flavors.join(", ")
        );
    }
    let mut order: Vec<String> = flavors.iter().filter(|f| *f != chosen).cloned().collect();
    order.push(chosen.to_owned());
    Ok(order)
}

/// Where the sysroot of `triple` in `flavor` is built below `out_root`.
pub fn sysroot_dir(out_root: &Path, flavor: &str, triple: &str) -> PathBuf {
    flavor::sysroot_dir(out_root, flavor, triple)
}

/// The mimalloc object of one flavor's libc.a as compiled, before its
/// symbols were made local (so it still exports the mi_* API): what tests
/// link mimalloc's own test programs with. Kept in the build directory.
pub fn unlocalised_glue(out_root: &Path, flavor: &str, triple: &str) -> PathBuf {
    out_root
        .join(".build")
        .join(triple)
        .join(format!("glue-{flavor}.o"))
}

/// What `fastmusl-sysroot.toml` records about how the sysroot was made,
/// beside the contract fields (`version`, `target`, `[wiring]`) that
/// `fastmusl_dist::sysroot::SysrootManifest` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildRecord {
    /// SHA-256 over every declared input; equal fingerprints mean the build
    /// would produce the same sysroot, so it is reused.
    pub inputs_sha256: String,
    pub musl: SourcePin,
    pub mimalloc: SourcePin,
    /// Arm's optimized-routines, where the target's string functions come
    /// from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimized_routines: Option<SourcePin>,
    /// LLVM's runtime sources, for `lib/fallback/libunwind.a` and libc++.
    pub llvm_runtimes: SourcePin,
    pub uapi_headers: UapiHeaders,
    pub patches: Vec<PatchRecord>,
    pub compiler: CompilerRecord,
    pub flags: FlagsRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UapiHeaders {
    pub package: String,
    pub package_version: String,
    pub copied_from: String,
    pub dirs: Vec<String>,
    pub tree_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PatchRecord {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompilerRecord {
    pub cc: String,
    pub version: String,
    pub ar: String,
    pub ranlib: String,
    pub objcopy: String,
    /// The compiler of the mimalloc object alone (clang 19, whose version
    /// is `cxx_version`'s: one Debian package).
    pub mimalloc_cc: String,
    /// libc++'s compiler (`libcxx::CXX`) and its version.
    pub cxx: String,
    pub cxx_version: String,
    pub cmake_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlagsRecord {
    pub configure: Vec<String>,
    pub cflags: Vec<String>,
    pub mimalloc_cflags: Vec<String>,
    /// libc++'s CMake switches (`libcxx::CMAKE_SWITCHES`).
    pub libcxx_cmake: Vec<String>,
}

/// Everything a build is made from, read and checked once.
struct BuildInputs {
    pins: SourcePins,
    platform: TargetPlatform,
    rustflags: Vec<String>,
    common_cflags: Vec<String>,
    mimalloc_cflags: Vec<String>,
    build_std_toolchain: String,
    flavors: Vec<FlavorRow>,
    patches: Vec<(String, PathBuf, Vec<u8>)>,
    clang_version: String,
    cxx_version: String,
    cmake_version: String,
}

impl BuildInputs {
    fn load(sh: &Shell, triple: &TargetTriple) -> Result<BuildInputs> {
        let root = project_root();
        let pins = SourcePins::load(&root.join("sysroots/sources.toml"))?;
        let table = PlatformTable::load(&root.join("sysroots/targets.toml"))?;
        let platform = table.get(triple)?.clone();
        let mut patches = Vec::new();
        for component in ["musl", "mimalloc", "llvm-runtimes"] {
            let dir = root.join("patches").join(component);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()?;
            files.retain(|p| p.extension().is_some_and(|e| e == "patch"));
            files.sort();
            for path in files {
                let bytes = std::fs::read(&path)?;
                let name = format!(
                    "{component}/{}",
                    path.file_name().unwrap().to_string_lossy()
                );
                patches.push((name, path, bytes));
            }
        }
        let first_line = |text: String| text.lines().next().unwrap_or_default().to_owned();
        let clang_version = first_line(cmd!(sh, "clang --version").quiet().read()?);
        let cxx = libcxx::CXX;
        let cxx_version = first_line(cmd!(sh, "{cxx} --version").quiet().read()?);
        let cmake_version = first_line(cmd!(sh, "cmake --version").quiet().read()?);
        Ok(BuildInputs {
            pins,
            platform,
            rustflags: table.common.rustflags.clone(),
            common_cflags: table.common.cflags.clone(),
            mimalloc_cflags: table.common.mimalloc_cflags.clone(),
            build_std_toolchain: table.common.build_std_toolchain.clone(),
            flavors: table.flavor.clone(),
            patches,
            clang_version,
            cxx_version,
            cmake_version,
        })
    }

    /// The fingerprint: pins, the target's row, the common flags, the
    /// flavors, patches, wrapper sources, this recipe's own source, and the
    /// compiler version.
    fn fingerprint(&self) -> Result<String> {
        let mut text = String::new();
        text += &toml::to_string(&self.pins)?;
        text += &toml::to_string(&self.platform)?;
        text += &format!(
            "{:?}{:?}{:?}{:?}{:?}\n",
            self.rustflags,
            self.common_cflags,
            self.mimalloc_cflags,
            self.build_std_toolchain,
            self.flavors
        );
        for (name, _, bytes) in &self.patches {
            text += &format!("patch {name} {}\n", sha256_hex(bytes));
        }
        for template in wrappers::TEMPLATES {
            text += &format!("wrapper {}\n", sha256_hex(template.as_bytes()));
        }
        for source in [
            link_runtime::CRTBEGIN_SOURCE,
            link_runtime::CRTEND_SOURCE,
            link_runtime::ATOMIC_SOURCE,
            include_str!("link_runtime.rs"),
            include_str!("libcxx.rs"),
        ] {
            text += &format!("runtime {}\n", sha256_hex(source.as_bytes()));
        }
        for recipe in [
            include_str!("sysroot.rs"),
            include_str!("sysroot/musl_build.rs"),
        ] {
            text += &format!("recipe {}\n", sha256_hex(recipe.as_bytes()));
        }
        text += &format!("compiler {}\n", self.clang_version);
        text += &format!("compiler {}\n", self.cxx_version);
        text += &format!("cmake {}\n", self.cmake_version);
        Ok(sha256_hex(text.as_bytes()))
    }

    fn configure_args(&self) -> Vec<String> {
        vec![
            format!("--target={}-linux-musl", self.platform.musl_arch),
            "--prefix=/".to_owned(),
            "--disable-shared".to_owned(),
            "--with-malloc=mimalloc".to_owned(),
        ]
    }

    fn rustflags(&self) -> Vec<String> {
        self.rustflags
            .iter()
            .chain(&self.platform.rustflags)
            .cloned()
            .collect()
    }

    fn cflags(&self) -> Vec<String> {
        self.common_cflags
            .iter()
            .chain(&self.platform.cflags)
            .cloned()
            .collect()
    }

    /// The compiler of the mimalloc object (musl's Makefile MIMALLOC_CC):
    /// clang 19, not musl's clang 14. Its build of mimalloc runs a calloc
    /// loop 5% faster, and it inlines mi_calloc into calloc on request
    /// (patches/musl/0001).
    fn mimalloc_cc(&self) -> String {
        format!("{} --target={}", libcxx::CC, self.platform.clang_target)
    }

    /// mimalloc's flags for `flavor` plus a fixed `__DATE__`/`__TIME__`
    /// (mimalloc prints them in its verbose banner; the build time would
    /// make libc.a differ from build to build).
    fn mimalloc_cflags(&self, flavor: &FlavorRow) -> Vec<String> {
        let date = pins::c_date_string(self.pins.source_date_epoch());
        let mut flags = self.mimalloc_cflags.clone();
        flags.extend(flavor.mimalloc_cflags.iter().cloned());
        flags.extend(self.platform.cflags.iter().cloned());
        flags.push("-Wno-builtin-macro-redefined".to_owned());
        flags.push(format!("-D__DATE__=\"{date}\""));
        flags.push("-D__TIME__=\"00:00:00\"".to_owned());
        flags
    }
}

/// Builds the sysroot unless an identical one exists; returns its directory.
pub fn build_or_reuse(request: &SysrootRequest) -> Result<PathBuf> {
    let sh = Shell::new()?;
    check_host_tools(&sh)?;
    let mut inputs = BuildInputs::load(&sh, &request.triple)?;
    for extra in &request.extra_flavors {
        if !flavor::is_valid_name(&extra.name)
            || inputs.flavors.iter().any(|f| f.name == extra.name)
        {
            bail!(
                "flavor `{}` is not a flavor name or is already in the table",
                extra.name
            );
        }
        inputs.flavors.push(extra.clone());
    }
    let fingerprint = inputs.fingerprint()?;
    let triple = inputs.platform.triple.as_str();
    std::fs::create_dir_all(&request.out_root)
        .with_context(|| format!("creating {}", request.out_root.display()))?;
    let dest = |flavor: &str| sysroot_dir(&request.out_root, flavor, triple);

    // One build per target at a time (tests share sysroots across threads
    // and processes); the second waits and then finds the sysroot ready.
    let lock = File::create(request.out_root.join(format!(".{triple}.lock")))?;
    lock.lock().context("locking the sysroot directory")?;

    let mut up_to_date = true;
    for f in &inputs.flavors {
        up_to_date &= read_manifest(&dest(&f.name))?
            .is_some_and(|(_, record)| record.inputs_sha256 == fingerprint);
    }
    if up_to_date {
        eprintln!(
            "fastmusl: sysroot {} for {triple} is up to date",
            inputs.pins.sysroot_version()
        );
        return Ok(dest(flavor::DEFAULT));
    }

    let started = Instant::now();
    let uapi = check_uapi_headers(&sh, &inputs.platform)?;
    let cache = project_root().join("target/downloads");
    let mirror = request
        .mirror
        .clone()
        .or_else(|| std::env::var_os(fetch::MIRROR_ENV).map(PathBuf::from));
    let musl = fetch::fetch_verified("musl", &inputs.pins.musl, mirror.as_deref(), &cache)?;
    let musl_fixes = inputs
        .pins
        .musl
        .upstream_fixes
        .iter()
        .map(|fix| fetch::fetch_upstream_fix("musl", fix, mirror.as_deref(), &cache))
        .collect::<Result<Vec<_>>>()?;
    let mimalloc =
        fetch::fetch_verified("mimalloc", &inputs.pins.mimalloc, mirror.as_deref(), &cache)?;
    let optimized_routines = if inputs.platform.arm_optimized_routines {
        let pin = &inputs.pins.optimized_routines;
        Some(fetch::fetch_verified(
            "optimized-routines",
            pin,
            mirror.as_deref(),
            &cache,
        )?)
    } else {
        None
    };

    let llvm_runtimes = fetch::fetch_verified(
        "llvm-runtimes",
        &inputs.pins.llvm_runtimes,
        mirror.as_deref(),
        &cache,
    )?;

    let build_dir = request.out_root.join(".build").join(triple);
    let stage = |flavor: &str| request.out_root.join(format!(".{triple}.{flavor}.stage"));
    for dir in
        std::iter::once(build_dir.clone()).chain(inputs.flavors.iter().map(|f| stage(&f.name)))
    {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let default_flavor = &inputs.flavors[0];
    let stage_default = stage(&default_flavor.name);
    std::fs::create_dir_all(&build_dir)?;
    let log_path = build_dir.join("build.log");
    let mut log = BuildLog {
        file: File::create(&log_path)?,
        path: log_path,
    };
    eprintln!(
        "fastmusl: building sysroot {} for {triple} in {} (log: {})",
        inputs.pins.sysroot_version(),
        build_dir.display(),
        log.path.display()
    );

    let musl_dir = build_dir.join("musl");
    let mimalloc_dir = build_dir.join("mimalloc");
    unpack_and_patch(
        &sh,
        &musl,
        &musl_fixes,
        &musl_dir,
        &inputs,
        "musl/",
        &mut log,
    )?;
    unpack_and_patch(
        &sh,
        &mimalloc,
        &[],
        &mimalloc_dir,
        &inputs,
        "mimalloc/",
        &mut log,
    )?;
    if let Some(routines) = &optimized_routines {
        let unpacked = build_dir.join("optimized-routines");
        routines
            .unpack(&unpacked)
            .with_context(|| format!("unpacking optimized-routines from {}", routines.origin))?;
        let into = musl_dir.join("src/string/aarch64/optimized-routines");
        std::fs::create_dir_all(&into)?;
        for file in OPTIMIZED_ROUTINES_FILES {
            let name = Path::new(file).file_name().expect("a file name");
            std::fs::copy(unpacked.join(file), into.join(name))
                .with_context(|| format!("copying optimized-routines' {file}"))?;
        }
    }

    let musl_build = MuslBuild {
        sh: &sh,
        inputs: &inputs,
        build_dir: &build_dir,
        musl_dir: &musl_dir,
        mimalloc_dir: &mimalloc_dir,
    };
    musl_build.make(default_flavor, &stage_default, &mut log)?;
    // Before libc++, which includes <linux/futex.h>.
    copy_uapi_headers(&inputs.platform, &stage_default.join("include"))?;
    let runtimes_dir = build_dir.join("llvm-runtimes");
    unpack_and_patch(
        &sh,
        &llvm_runtimes,
        &[],
        &runtimes_dir,
        &inputs,
        "llvm-runtimes/",
        &mut log,
    )?;
    let runtime_build = RuntimeBuild {
        clang_target: &inputs.platform.clang_target,
        cflags: &inputs.cflags(),
        stage: &stage_default,
        build_dir: &build_dir,
        llvm_runtimes: &runtimes_dir,
    };
    link_runtime::build(&sh, &runtime_build, &mut log)?;
    let libcxx_started = Instant::now();
    libcxx::build(&sh, &runtime_build, &mut log)?;
    eprintln!(
        "fastmusl: libc++ for {triple} took {:.1} s",
        libcxx_started.elapsed().as_secs_f64()
    );
    let tools = wrappers::write_wrappers(&stage_default, &inputs.platform)?;
    let mut licenses = vec![
        ("musl", musl_dir.join("COPYRIGHT")),
        ("mimalloc", mimalloc_dir.join("LICENSE")),
        ("llvm-runtimes", runtimes_dir.join("LICENSE.TXT")),
        (
            "linux-uapi-headers",
            Path::new("/usr/share/doc")
                .join(&inputs.platform.uapi_package)
                .join("copyright"),
        ),
    ];
    if optimized_routines.is_some() {
        licenses.push((
            "optimized-routines",
            build_dir.join("optimized-routines/LICENSE"),
        ));
    }
    copy_licenses(&stage_default, &licenses)?;

    let record = BuildRecord {
        inputs_sha256: fingerprint,
        musl: inputs.pins.musl.clone(),
        mimalloc: inputs.pins.mimalloc.clone(),
        optimized_routines: optimized_routines
            .as_ref()
            .map(|_| inputs.pins.optimized_routines.clone()),
        llvm_runtimes: inputs.pins.llvm_runtimes.clone(),
        uapi_headers: uapi,
        patches: inputs
            .patches
            .iter()
            .map(|(name, _, bytes)| PatchRecord {
                path: name.clone(),
                sha256: sha256_hex(bytes),
            })
            .collect(),
        compiler: CompilerRecord {
            cc: format!("clang --target={}", inputs.platform.clang_target),
            version: inputs.clang_version.clone(),
            ar: "llvm-ar".to_owned(),
            ranlib: "llvm-ranlib".to_owned(),
            objcopy: "llvm-objcopy".to_owned(),
            mimalloc_cc: inputs.mimalloc_cc(),
            cxx: format!("{} --target={}", libcxx::CXX, inputs.platform.clang_target),
            cxx_version: inputs.cxx_version.clone(),
            cmake_version: inputs.cmake_version.clone(),
        },
        flags: FlagsRecord {
            configure: inputs.configure_args(),
            cflags: inputs.cflags(),
            mimalloc_cflags: inputs.mimalloc_cflags(default_flavor),
            libcxx_cmake: libcxx::CMAKE_SWITCHES.map(str::to_owned).to_vec(),
        },
    };
    let wiring = SysrootWiring {
        linker: relative_to(&tools.linker, &stage_default),
        cc: relative_to(&tools.cc, &stage_default),
        ar: relative_to(&tools.ar, &stage_default),
        cxx: Some(relative_to(&tools.cxx, &stage_default)),
        cxxstdlib: Some(libcxx::CXXSTDLIB.to_owned()),
        rustflags: inputs.rustflags(),
        platform: Some(inputs.platform.oci_platform.clone()),
        build_std_toolchain: Some(inputs.build_std_toolchain.clone()),
        runner: inputs.platform.runner(),
    };
    let write_manifest = |flavor: &FlavorRow, stage: &Path| -> Result<()> {
        let mut record = record.clone();
        record.flags.mimalloc_cflags = inputs.mimalloc_cflags(flavor);
        let manifest = SysrootManifest {
            version: inputs.pins.sysroot_version(),
            target: triple.to_owned(),
            flavor: flavor.name.clone(),
            allocator_defaults: allocator_defaults(&record.flags.mimalloc_cflags),
            allocator_build: allocator_build(&record.flags.mimalloc_cflags),
            wiring: wiring.clone(),
            build: toml::Table::try_from(&record)?,
        };
        std::fs::write(stage.join(MANIFEST_FILE), manifest.to_toml())?;
        Ok(())
    };
    write_manifest(default_flavor, &stage_default)?;
    // The other flavors: the same tree, another libc.a.
    for flavor in &inputs.flavors[1..] {
        let flavor_started = Instant::now();
        let stage = stage(&flavor.name);
        copy_tree(&stage_default, &stage)?;
        musl_build.relink_libc(flavor, &stage, &mut log)?;
        write_manifest(flavor, &stage)?;
        eprintln!(
            "fastmusl: the {} flavor of {triple} took {:.1} s more",
            flavor.name,
            flavor_started.elapsed().as_secs_f64()
        );
    }

    // Swap into place: an old sysroot stays whole until its new one is.
    for flavor in &inputs.flavors {
        let (stage, dest) = (stage(&flavor.name), dest(&flavor.name));
        let old = request
            .out_root
            .join(format!(".{triple}.{}.old", flavor.name));
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        if dest.exists() {
            std::fs::rename(&dest, &old)?;
        }
        std::fs::create_dir_all(dest.parent().expect("a sysroot has a parent"))?;
        std::fs::rename(&stage, &dest)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
    }
    eprintln!(
        "fastmusl: built {} for {triple} ({}) in {:.1} s",
        inputs.pins.sysroot_version(),
        inputs
            .flavors
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(dest(flavor::DEFAULT))
}

/// The sysroot's manifest and build record; `None` when there is none, or
/// one of an older format (which just means "rebuild").
pub fn read_manifest(sysroot: &Path) -> Result<Option<(SysrootManifest, BuildRecord)>> {
    use fastmusl_dist::sysroot::SysrootError;
    let manifest = match SysrootManifest::read(sysroot) {
        Ok(m) => m,
        Err(SysrootError::Missing { .. } | SysrootError::Parse { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(manifest
        .build
        .clone()
        .try_into()
        .ok()
        .map(|record| (manifest, record)))
}

fn check_host_tools(sh: &Shell) -> Result<()> {
    let missing: Vec<String> = HOST_TOOLS
        .iter()
        .filter(|(tool, _)| host_tool_path(sh, tool).is_none())
        .map(|(tool, package)| format!("{tool} (Debian package: {package})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "building a sysroot needs these host tools, which were not found on PATH:\n  {}\n\
             On Debian 12: apt-get install clang lld llvm make patch clang-19 cmake ninja-build",
            missing.join("\n  ")
        );
    }
    Ok(())
}

/// Verifies the UAPI headers against the table's pin before they are used.
fn check_uapi_headers(sh: &Shell, platform: &TargetPlatform) -> Result<UapiHeaders> {
    let root = Path::new(&platform.uapi_headers);
    let package = &platform.uapi_package;
    let tree = Tree::from_dirs(root, &UAPI_DIRS).with_context(|| {
        format!(
            "the Linux UAPI headers for {} are missing; install them \
             (Debian/Ubuntu: apt-get install {package})",
            platform.triple
        )
    })?;
    let actual = tree.sha256();
    if actual != platform.uapi_tree_sha256 {
        bail!(
            "the Linux UAPI headers in {} ({package}) do not match their pin in \
             sysroots/targets.toml\n  tree sha256: expected {}\n  tree sha256:   actual {actual}\n\
             Nothing was copied. If the package was updated on purpose, review the \
             change and update uapi_tree_sha256.",
            root.display(),
            platform.uapi_tree_sha256
        );
    }
    let format = "${Version}";
    let package_version = cmd!(sh, "dpkg-query -W -f={format} {package}")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "unknown".to_owned());
    Ok(UapiHeaders {
        package: package.clone(),
        package_version,
        copied_from: platform.uapi_headers.clone(),
        dirs: UAPI_DIRS.iter().map(|d| d.to_string()).collect(),
        tree_sha256: actual,
    })
}

/// Unpacks `source`, applies its verified upstream fixes in order, then the
/// project's own patches (`patches/<patch_prefix>`).
fn unpack_and_patch(
    sh: &Shell,
    source: &VerifiedSource,
    upstream_fixes: &[VerifiedSource],
    dest: &Path,
    inputs: &BuildInputs,
    patch_prefix: &str,
    log: &mut BuildLog,
) -> Result<()> {
    source
        .unpack(dest)
        .with_context(|| format!("unpacking {} from {}", source.name, source.origin))?;
    let _dir = sh.push_dir(dest);
    for fix in upstream_fixes {
        log.run(cmd!(sh, "patch -p1 --forward --batch --no-backup-if-mismatch").stdin(fix.bytes()))
            .with_context(|| format!("applying {} to {}", fix.origin, source.name))?;
    }
    for (name, path, _) in inputs
        .patches
        .iter()
        .filter(|(n, _, _)| n.starts_with(patch_prefix))
    {
        log.run(cmd!(
            sh,
            "patch -p1 --forward --batch --no-backup-if-mismatch -i {path}"
        ))
        .with_context(|| format!("applying patches/{name} to {}", source.name))?;
    }
    Ok(())
}

fn copy_uapi_headers(platform: &TargetPlatform, include: &Path) -> Result<()> {
    let from = Path::new(&platform.uapi_headers);
    for dir in UAPI_DIRS {
        copy_tree(&from.join(dir), &include.join(dir))?;
    }
    Ok(())
}

fn relative_to(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The mimalloc option defaults that `-DMI_DEFAULT_<NAME>=<N>` flags set,
/// by mimalloc's option name in lowercase (`MI_DEFAULT_PURGE_DELAY=250` is
/// `purge_delay = 250`): what the manifest records and `fastmusl doctor`
/// shows.
pub fn allocator_defaults(mimalloc_cflags: &[String]) -> std::collections::BTreeMap<String, i64> {
    numeric_defines(mimalloc_cflags, "-DMI_DEFAULT_")
}

/// The mimalloc build switches that `-DMI_ENABLE_<NAME>=<N>` flags set, by
/// the lowercase name with its `enable_` (`MI_ENABLE_LARGE_PAGES=0` is
/// `enable_large_pages = 0`): fixed at build time, so the manifest records
/// them apart from the option defaults an environment variable overrides.
pub fn allocator_build(mimalloc_cflags: &[String]) -> std::collections::BTreeMap<String, i64> {
    numeric_defines(mimalloc_cflags, "-DMI_ENABLE_")
        .into_iter()
        .map(|(name, value)| (format!("enable_{name}"), value))
        .collect()
}

/// `PREFIX<NAME>=<integer>` flags as lowercase name → value.
fn numeric_defines(flags: &[String], prefix: &str) -> std::collections::BTreeMap<String, i64> {
    flags
        .iter()
        .filter_map(|flag| {
            let (name, value) = flag.strip_prefix(prefix)?.split_once('=')?;
            Some((name.to_ascii_lowercase(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_flavor_is_the_last_line_and_an_unknown_one_is_refused() {
        let table = ["default".to_owned(), "secure".to_owned()];
        assert_eq!(
            flavors_ending_with(&table, "default").unwrap(),
            ["secure", "default"]
        );
        assert_eq!(
            flavors_ending_with(&table, "secure").unwrap(),
            ["default", "secure"]
        );
        let err = flavors_ending_with(&table, "fast").unwrap_err().to_string();
        assert!(err.contains("has default, secure"), "{err}");
    }

    #[test]
    fn allocator_defaults_are_read_from_the_mi_default_flags() {
        let flags: Vec<String> = [
            "-O3",
            "-DMI_SECURE=0",
            "-DMI_DEFAULT_PURGE_DELAY=250",
            "-DMI_DEFAULT_ALLOW_THP=0",
            "-DMI_DEFAULT_NOT_A_NUMBER=x",
            "-DMI_ENABLE_LARGE_PAGES=0",
        ]
        .map(str::to_owned)
        .to_vec();
        let defaults = allocator_defaults(&flags);
        assert_eq!(
            defaults.into_iter().collect::<Vec<_>>(),
            [("allow_thp".to_owned(), 0), ("purge_delay".to_owned(), 250)]
        );
        assert_eq!(
            allocator_build(&flags).into_iter().collect::<Vec<_>>(),
            [("enable_large_pages".to_owned(), 0)]
        );
    }
}
