//! The tools in a sysroot's `bin/`: `<triple>-ld` (the linker cargo uses),
//! `<triple>-cc`, `<triple>-c++` and `<triple>-ar` (for the `cc` and
//! `cmake` crates). The C and C++ compilers are one template: they differ
//! in which clang they need, the C++ header tree and the C++ library.
//!
//! They are small POSIX sh scripts, so they run on any Linux host without a
//! toolchain of their own, and they find the sysroot relative to their own
//! location, so a sysroot can be moved or installed anywhere.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{libcxx, platforms::TargetPlatform};

const LD_TEMPLATE: &str = include_str!("wrappers/ld.sh");
const CC_TEMPLATE: &str = include_str!("wrappers/cc.sh");
const AR_TEMPLATE: &str = include_str!("wrappers/ar.sh");

/// The wrapper scripts' sources, for the sysroot's input fingerprint.
pub const TEMPLATES: [&str; 3] = [LD_TEMPLATE, CC_TEMPLATE, AR_TEMPLATE];

/// Paths of a sysroot's wrappers.
#[derive(Debug, Clone)]
pub struct SysrootTools {
    pub linker: PathBuf,
    pub cc: PathBuf,
    pub cxx: PathBuf,
    pub ar: PathBuf,
}

impl SysrootTools {
    pub fn in_sysroot(sysroot: &Path, platform: &TargetPlatform) -> SysrootTools {
        let bin = sysroot.join("bin");
        let triple = platform.triple.as_str();
        SysrootTools {
            linker: bin.join(format!("{triple}-ld")),
            cc: bin.join(format!("{triple}-cc")),
            cxx: bin.join(format!("{triple}-c++")),
            ar: bin.join(format!("{triple}-ar")),
        }
    }
}

pub fn write_wrappers(sysroot: &Path, platform: &TargetPlatform) -> Result<SysrootTools> {
    let tools = SysrootTools::in_sysroot(sysroot, platform);
    std::fs::create_dir_all(sysroot.join("bin"))?;
    for (path, template, language) in [
        (&tools.linker, LD_TEMPLATE, Language::C),
        (&tools.cc, CC_TEMPLATE, Language::C),
        (&tools.cxx, CC_TEMPLATE, Language::Cxx),
        (&tools.ar, AR_TEMPLATE, Language::C),
    ] {
        let text = render(template, platform, language);
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(tools)
}

/// Which compiler wrapper a template is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    C,
    Cxx,
}

fn render(template: &str, platform: &TargetPlatform, language: Language) -> String {
    let name = match language {
        Language::C => "C",
        Language::Cxx => "C++",
    };
    template
        .replace("@LANGUAGE@", name)
        .replace("@MIN_CLANG_MAJOR@", &libcxx::MIN_CLANG_MAJOR.to_string())
        .replace("@TRIPLE_ENV@", &platform.triple.env_suffix())
        .replace("@TRIPLE@", platform.triple.as_str())
        .replace("@CLANG_TARGET@", &platform.clang_target)
        .replace("@GNU_TRIPLE@", &platform.gnu_triple)
        .replace("@LIBGCC_PACKAGE@", &platform.libgcc_package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let table = crate::platforms::PlatformTable::load(
            &crate::project_root().join("sysroots/targets.toml"),
        )
        .unwrap();
        for platform in &table.target {
            for (template, language) in TEMPLATES
                .into_iter()
                .flat_map(|t| [(t, Language::C), (t, Language::Cxx)])
            {
                let text = render(template, platform, language);
                for placeholder in [
                    "@LANGUAGE@",
                    "@MIN_CLANG_MAJOR@",
                    "@TRIPLE@",
                    "@TRIPLE_ENV@",
                    "@CLANG_TARGET@",
                    "@GNU_TRIPLE@",
                    "@LIBGCC_PACKAGE@",
                ] {
                    assert!(!text.contains(placeholder), "{placeholder} left in {text}");
                }
            }
        }
    }
}
