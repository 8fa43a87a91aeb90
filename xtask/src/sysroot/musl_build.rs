//! Making musl: configure and make once per target with the default
//! flavor's mimalloc flags, then, for each further flavor, compile the one
//! object holding mimalloc again and re-make libc.a around it.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::BuildInputs;
use crate::{build_log::BuildLog, platforms::FlavorRow};

/// musl's build tree, configured and made once per target; flavors differ
/// only in the mimalloc object.
pub(super) struct MuslBuild<'a> {
    pub(super) sh: &'a Shell,
    pub(super) inputs: &'a BuildInputs,
    pub(super) build_dir: &'a Path,
    pub(super) musl_dir: &'a Path,
    pub(super) mimalloc_dir: &'a Path,
}

/// Where musl's Makefile (patches/musl/0001) puts the mimalloc object, and
/// the same before localisation.
const GLUE_OBJECT: &str = "obj/src/malloc/mimalloc/glue.lo";
const GLUE_OBJECT_FULL: &str = "obj/src/malloc/mimalloc/glue.lo.full";

impl MuslBuild<'_> {
    /// Configures and makes musl with `flavor`'s mimalloc flags, and
    /// installs its libraries and headers into `stage`.
    pub(super) fn make(&self, flavor: &FlavorRow, stage: &Path, log: &mut BuildLog) -> Result<()> {
        let sh = self.sh;
        let _dir = sh.push_dir(self.musl_dir);
        let _env = self.reproducible_env();
        let cflags = self.inputs.cflags();
        let cflags = cflags
            .iter()
            .chain([&self.prefix_map()])
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let cc = format!("clang --target={}", self.inputs.platform.clang_target);
        let configure = self.inputs.configure_args();
        log.run(cmd!(
            sh,
            "./configure {configure...} CC={cc} AR=llvm-ar RANLIB=llvm-ranlib CFLAGS={cflags}"
        ))
        .context("configuring musl")?;
        let jobs = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .to_string();
        let make_vars = self.make_vars(flavor);
        let build_vars = make_vars.clone();
        log.run(cmd!(sh, "make -j{jobs} {build_vars...}"))
            .context("building musl")?;
        let destdir = format!("DESTDIR={}", stage.display());
        log.run(cmd!(
            sh,
            "make install-libs install-headers {make_vars...} {destdir}"
        ))
        .context("installing musl into the staging directory")?;
        self.keep_unlocalised_glue(flavor)
    }

    /// Compiles the mimalloc object again with `flavor`'s flags, re-makes
    /// libc.a around it and puts that into `stage` (a copy of a made
    /// flavor's tree). Nothing else in libc.a changes.
    pub(super) fn relink_libc(
        &self,
        flavor: &FlavorRow,
        stage: &Path,
        log: &mut BuildLog,
    ) -> Result<()> {
        let sh = self.sh;
        let _dir = sh.push_dir(self.musl_dir);
        let _env = self.reproducible_env();
        for file in [GLUE_OBJECT, GLUE_OBJECT_FULL, "lib/libc.a"] {
            let path = self.musl_dir.join(file);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        let make_vars = self.make_vars(flavor);
        log.run(cmd!(sh, "make lib/libc.a {make_vars...}"))
            .with_context(|| format!("building libc.a for the {} flavor", flavor.name))?;
        std::fs::copy(self.musl_dir.join("lib/libc.a"), stage.join("lib/libc.a"))
            .context("installing the flavor's libc.a")?;
        self.keep_unlocalised_glue(flavor)
    }

    fn keep_unlocalised_glue(&self, flavor: &FlavorRow) -> Result<()> {
        let to = self.build_dir.join(format!("glue-{}.o", flavor.name));
        std::fs::copy(self.musl_dir.join(GLUE_OBJECT_FULL), &to)
            .with_context(|| format!("keeping the mimalloc object as {}", to.display()))?;
        Ok(())
    }

    /// Outputs must not depend on where or when they were built.
    fn reproducible_env(&self) -> [xshell::PushEnv<'_>; 3] {
        let sh = self.sh;
        [
            sh.push_env("LC_ALL", "C"),
            sh.push_env("TZ", "UTC"),
            sh.push_env(
                "SOURCE_DATE_EPOCH",
                self.inputs.pins.source_date_epoch().to_string(),
            ),
        ]
    }

    fn prefix_map(&self) -> String {
        format!(
            "-ffile-prefix-map={}=/fastmusl-build",
            self.build_dir.display()
        )
    }

    /// The variables of every make run: where mimalloc is, and its flags
    /// for `flavor`.
    fn make_vars(&self, flavor: &FlavorRow) -> Vec<String> {
        // CFLAGS_MIMALLOC_EXTRA reaches a shell through make's recipe: quote it.
        let mut mimalloc_cflags = self.inputs.mimalloc_cflags(flavor);
        mimalloc_cflags.push(self.prefix_map());
        let mimalloc_cflags: Vec<String> = mimalloc_cflags.iter().map(|f| shell_quote(f)).collect();
        vec![
            format!("MIMALLOC_SRCDIR={}", self.mimalloc_dir.display()),
            format!("MIMALLOC_CC={}", self.inputs.mimalloc_cc()),
            "OBJCOPY=llvm-objcopy".to_owned(),
            format!("CFLAGS_MIMALLOC_EXTRA={}", mimalloc_cflags.join(" ")),
        ]
    }
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_=./:,+".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_a_shell() {
        let flag = "-D__DATE__=\"Mar 20 2026\"";
        let sh = Shell::new().unwrap();
        let script = format!("printf '%s' {}", shell_quote(flag));
        let out = cmd!(sh, "sh -c {script}").read().unwrap();
        assert_eq!(out, flag);
        assert_eq!(shell_quote("-O3"), "-O3");
    }
}
