//! What a static link needs besides musl's crt objects and libc.a, so that a
//! sysroot suffices on its own where rustup ships no rust-std for the target
//! (it is built with `-Zbuild-std`, and rustc has no `self-contained/`
//! directory to take these from):
//!
//! - `lib/crtbegin.o`, `crtbeginS.o`, `crtbeginT.o`, `crtend.o`, `crtendS.o`:
//!   fastmusl's own (`crt/crtbegin.c`, `crt/crtend.c`, which say why they
//!   are nearly empty);
//! - `lib/fallback/libunwind.a`: LLVM's libunwind from the pinned runtime
//!   sources, for the `-lunwind` of Rust's `unwind` crate;
//! - `lib/fallback/libatomic.a`: fastmusl's out-of-line atomics
//!   (`crt/atomic.c`), for what a target has no instructions for and for
//!   crates that ask for `-latomic` (libmimalloc-sys does on arm).
//!
//! `fallback/` because the linker wrapper searches that directory last:
//! where rustup's rust-std has its own `libunwind.a`, that one is used, as
//! rustc expects.
//!
//! Compiler runtime helpers (`__aeabi_*`, 64-bit division on 32-bit targets,
//! soft-float and `long double` helpers) come from Rust's own
//! `compiler_builtins`, which every Rust link carries, `-Zbuild-std` too.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::build_log::BuildLog;

pub const CRTBEGIN_SOURCE: &str = include_str!("crt/crtbegin.c");
pub const CRTEND_SOURCE: &str = include_str!("crt/crtend.c");
pub const ATOMIC_SOURCE: &str = include_str!("crt/atomic.c");

/// The names a link may ask for, and the source each is compiled from.
const CRT_OBJECTS: [(&str, &str); 5] = [
    ("crtbegin.o", CRTBEGIN_SOURCE),
    ("crtbeginS.o", CRTBEGIN_SOURCE),
    ("crtbeginT.o", CRTBEGIN_SOURCE),
    ("crtend.o", CRTEND_SOURCE),
    ("crtendS.o", CRTEND_SOURCE),
];

/// libunwind's sources as LLVM's own CMake build lists them for Linux.
const LIBUNWIND_SOURCES: [&str; 8] = [
    "libunwind.cpp",
    "Unwind-EHABI.cpp",
    "Unwind-seh.cpp",
    "UnwindLevel1.c",
    "UnwindLevel1-gcc-ext.c",
    "Unwind-sjlj.c",
    "UnwindRegistersRestore.S",
    "UnwindRegistersSave.S",
];

/// What building a runtime library against the staged sysroot takes (these
/// and libc++, `crate::libcxx`).
pub struct RuntimeBuild<'a> {
    pub clang_target: &'a str,
    /// The target's C flags (`-fPIC`, the row's own).
    pub cflags: &'a [String],
    /// The sysroot being staged: its `include/` is used, `lib/` written.
    pub stage: &'a Path,
    /// Scratch space; also mapped out of debug paths.
    pub build_dir: &'a Path,
    /// The unpacked, verified LLVM runtime sources.
    pub llvm_runtimes: &'a Path,
}

pub(crate) fn build(sh: &Shell, b: &RuntimeBuild<'_>, log: &mut BuildLog) -> Result<()> {
    let target = format!("--target={}", b.clang_target);
    let include = b.stage.join("include");
    let prefix_map = format!(
        "-ffile-prefix-map={}=/fastmusl-build",
        b.build_dir.display()
    );
    let common: Vec<String> = [
        target.clone(),
        "-nostdlibinc".to_owned(),
        "-isystem".to_owned(),
        include.display().to_string(),
        "-O2".to_owned(),
        prefix_map,
    ]
    .into_iter()
    .chain(b.cflags.iter().cloned())
    .collect();

    let crt_dir = b.build_dir.join("crt");
    std::fs::create_dir_all(&crt_dir)?;
    let lib = b.stage.join("lib");
    for (name, source) in CRT_OBJECTS {
        let c = crt_dir.join(name).with_extension("c");
        std::fs::write(&c, source)?;
        let out = lib.join(name);
        let flags = &common;
        log.run(cmd!(sh, "clang {flags...} -c {c} -o {out}"))
            .with_context(|| format!("compiling {name}"))?;
    }

    // The flags of LLVM's CMake build of a static, native-only libunwind.
    let src = b.llvm_runtimes.join("libunwind/src");
    let unwind_include = format!("-I{}", b.llvm_runtimes.join("libunwind/include").display());
    let objects = b.build_dir.join("libunwind");
    std::fs::create_dir_all(&objects)?;
    let mut built = Vec::new();
    for file in LIBUNWIND_SOURCES {
        let language: &[&str] = match Path::new(file).extension().and_then(|e| e.to_str()) {
            Some("cpp") => &["-std=c++17", "-nostdinc++", "-fno-exceptions", "-fno-rtti"],
            Some("c") => &["-std=c99"],
            _ => &[],
        };
        let input = src.join(file);
        let out = objects.join(file).with_extension("o");
        let flags = &common;
        log.run(cmd!(
            sh,
            "clang {flags...} {unwind_include} -funwind-tables -fvisibility=hidden
                -fstrict-aliasing -D_LIBUNWIND_DISABLE_VISIBILITY_ANNOTATIONS
                -D_LIBUNWIND_IS_NATIVE_ONLY -DNDEBUG {language...} -c {input} -o {out}"
        ))
        .with_context(|| format!("compiling libunwind's {file}"))?;
        built.push(out);
    }
    let fallback = lib.join("fallback");
    std::fs::create_dir_all(&fallback)?;
    let archive = fallback.join("libunwind.a");
    // llvm-ar writes deterministic archives (no timestamps, uid or gid).
    log.run(cmd!(sh, "llvm-ar rcs {archive} {built...}"))
        .context("archiving libunwind.a")?;

    let atomic_c = crt_dir.join("atomic.c");
    std::fs::write(&atomic_c, ATOMIC_SOURCE)?;
    let atomic_o = crt_dir.join("atomic.o");
    let flags = &common;
    log.run(cmd!(
        sh,
        "clang {flags...} -std=c11 -c {atomic_c} -o {atomic_o}"
    ))
    .context("compiling atomic.c")?;
    let archive = fallback.join("libatomic.a");
    log.run(cmd!(sh, "llvm-ar rcs {archive} {atomic_o}"))
        .context("archiving libatomic.a")?;
    Ok(())
}
