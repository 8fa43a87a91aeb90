//! musl exactly as released (the pinned tarball: no upstream fixes, no
//! fastmusl patches, mallocng), built for a target the way the sysroot's
//! musl is (the table's clang target and flags), into
//! `target/stock-musl/<triple>/` (`lib/` with crt objects and libc.a,
//! `include/`). It is the "stock musl" of comparisons on any target:
//! rustup's own musl exists only for rustup's musl targets and is another
//! release. Rebuilt only when the tarball or the flags change.

use std::path::PathBuf;

use crate::platforms::TargetTriple;
use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::BuildInputs;
use crate::{build_log::BuildLog, fetch, project_root};

/// Builds (or finds built) stock musl for `triple`; its prefix.
pub fn build_release_musl(triple: &str) -> Result<PathBuf> {
    let sh = Shell::new()?;
    let triple: TargetTriple = triple.parse()?;
    let inputs = BuildInputs::load(&sh, &triple)?;
    let out = project_root()
        .join("target/stock-musl")
        .join(triple.as_str());
    let stamp = out.join(".inputs");
    let cflags = inputs.cflags().join(" ");
    let cc = format!("clang --target={}", inputs.platform.clang_target);
    let fingerprint = format!(
        "musl {} sha256 {}\ncc {cc} ({})\ncflags {cflags}\n",
        inputs.pins.musl.version,
        inputs.pins.musl.archive_sha256.as_deref().unwrap_or("?"),
        inputs.clang_version
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(&fingerprint) {
        return Ok(out);
    }
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    let build = out.join(".build");
    std::fs::create_dir_all(&build)?;
    let mirror = std::env::var_os(fetch::MIRROR_ENV).map(PathBuf::from);
    let cache = project_root().join("target/downloads");
    let musl = fetch::fetch_verified("musl", &inputs.pins.musl, mirror.as_deref(), &cache)?;
    let src = build.join("musl");
    musl.unpack(&src)
        .with_context(|| format!("unpacking musl from {}", musl.origin))?;
    let log_path = build.join("build.log");
    let mut log = BuildLog {
        file: std::fs::File::create(&log_path)?,
        path: log_path,
    };
    eprintln!(
        "fastmusl: building stock musl {} for {triple} (log: {})",
        inputs.pins.musl.version,
        log.path.display()
    );
    let _dir = sh.push_dir(&src);
    let target = format!("--target={}-linux-musl", inputs.platform.musl_arch);
    log.run(cmd!(
        sh,
        "./configure {target} --prefix=/ --disable-shared CC={cc} AR=llvm-ar RANLIB=llvm-ranlib CFLAGS={cflags}"
    ))
    .context("configuring stock musl")?;
    let jobs = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    log.run(cmd!(sh, "make -j{jobs}"))
        .context("building stock musl")?;
    let destdir = format!("DESTDIR={}", out.display());
    log.run(cmd!(sh, "make install-libs install-headers {destdir}"))
        .context("installing stock musl")?;
    drop(_dir);
    std::fs::remove_dir_all(&build).ok();
    std::fs::write(&stamp, fingerprint)?;
    Ok(out)
}
