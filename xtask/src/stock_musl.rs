//! rustup's own musl for the host (`self-contained/` of its rust-std, with
//! musl's mallocng) as a C reference beside fastmusl: what the bench's C
//! hello world and the heap-misuse suite compare against.
//!
//! rustup ships musl's libc.a and crt objects but no headers; musl's
//! headers come from fastmusl's sysroot (the C wrapper compiles), and the
//! link takes rustup's objects alone.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::run_tool;

/// The host's musl target, whose rust-std rustup installs.
pub const HOST_MUSL: &str = "x86_64-unknown-linux-musl";

/// rustup's own musl for the host target: `self-contained/` of its rust-std.
pub fn self_contained_dir() -> Result<PathBuf> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let sysroot = String::from_utf8(output.stdout)?.trim().to_owned();
    let dir = Path::new(&sysroot).join(format!("lib/rustlib/{HOST_MUSL}/lib/self-contained"));
    if !dir.join("libc.a").is_file() {
        bail!(
            "rustup's musl is not installed ({} has no libc.a): rustup target add {HOST_MUSL}",
            dir.display()
        );
    }
    Ok(dir)
}

/// Compiles `sources` (C, or C++ that needs no C++ runtime) with fastmusl's
/// C wrapper `cc` (musl's headers) and `flags`, and links them statically
/// against rustup's musl into `binary`.
pub fn build_c(cc: &Path, sources: &[&Path], flags: &[&str], binary: &Path) -> Result<()> {
    let mut objects = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let object = binary.with_extension(format!("{i}.o"));
        let mut compile = Command::new(cc);
        compile
            .args(flags)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(&object);
        run_tool(compile)?;
        objects.push(object);
    }
    let stock = self_contained_dir()?;
    let mut link = Command::new("clang");
    link.args([
        "--target=x86_64-linux-musl",
        "-static",
        "-nostdlib",
        "-fuse-ld=lld",
    ])
    .arg(stock.join("crt1.o"))
    .arg(stock.join("crti.o"))
    .args(&objects)
    .arg(stock.join("libc.a"))
    .arg(stock.join("crtn.o"))
    .arg("-o")
    .arg(binary);
    run_tool(link)?;
    for object in objects {
        let _ = std::fs::remove_file(object);
    }
    Ok(())
}
