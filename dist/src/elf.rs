//! What an executable's ELF headers say about how it will be loaded: its
//! class (32- or 64-bit), its machine, and whether it names a program
//! interpreter (PT_INTERP), i.e. whether the kernel would start a dynamic
//! loader first: a binary without one is static.
//!
//! One reader, class- and byte-order-aware (on the `object` crate), for the
//! pipeline's tests, `cargo xtask` and the installer's `doctor` alike, so a
//! 32-bit target or a file that is not ELF at all is never misjudged by a
//! second, simpler copy.

use std::path::Path;

use object::{
    Endianness, FileKind,
    elf::{EM_ARM, FileHeader32, FileHeader64, PT_INTERP, SHT_ARM_ATTRIBUTES, Tag_File},
    read::elf::{FileHeader, ProgramHeader, SectionHeader},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfClass {
    Elf32,
    Elf64,
}

/// The load-relevant facts of one ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfFacts {
    pub class: ElfClass,
    pub little_endian: bool,
    /// `e_machine` (`object::elf::EM_*`: 62 is x86_64, 183 aarch64, 3 i386).
    pub machine: u16,
    /// A PT_INTERP program header: the binary is dynamically linked.
    pub has_interpreter: bool,
    /// 32-bit Arm only: `Tag_CPU_arch` from the `aeabi` attributes
    /// (`.ARM.attributes`), the architecture version the code was built
    /// for (6 is v6, 10 v7, 14 v8), which the header does not say.
    pub arm_cpu_arch: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not an ELF file")]
    NotElf,
    #[error("a damaged ELF file: {0}")]
    Malformed(String),
}

impl ElfFacts {
    pub fn read(path: &Path) -> Result<ElfFacts, ElfError> {
        let bytes = std::fs::read(path).map_err(|source| ElfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&bytes)
    }

    pub fn parse(data: &[u8]) -> Result<ElfFacts, ElfError> {
        let facts = match FileKind::parse(data) {
            Ok(FileKind::Elf32) => facts::<FileHeader32<Endianness>>(data, ElfClass::Elf32),
            Ok(FileKind::Elf64) => facts::<FileHeader64<Endianness>>(data, ElfClass::Elf64),
            _ => return Err(ElfError::NotElf),
        };
        facts.map_err(|e| ElfError::Malformed(e.to_string()))
    }

    pub fn is_static(&self) -> bool {
        !self.has_interpreter
    }

    /// 32 or 64, as the platform table writes the class.
    pub fn bits(&self) -> u8 {
        match self.class {
            ElfClass::Elf32 => 32,
            ElfClass::Elf64 => 64,
        }
    }

    /// 32-bit Arm, whose OCI variant comes from its attributes.
    pub fn is_arm32(&self) -> bool {
        self.machine == EM_ARM && self.class == ElfClass::Elf32
    }

    /// The machine's usual name, for messages.
    pub fn machine_name(&self) -> String {
        use object::elf::*;
        match self.machine {
            EM_X86_64 => "x86_64".to_owned(),
            EM_AARCH64 => "aarch64".to_owned(),
            EM_386 => "i386".to_owned(),
            EM_ARM => "arm".to_owned(),
            EM_RISCV => "riscv".to_owned(),
            EM_PPC64 => "powerpc64".to_owned(),
            EM_S390 => "s390x".to_owned(),
            other => format!("ELF machine {other}"),
        }
    }
}

/// Where an image index files a binary: the OCI platform's architecture
/// and variant (Go's GOARCH names, as the image-spec asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OciPlatform {
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
}

impl std::fmt::Display for OciPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "linux/{}", self.architecture)?;
        if let Some(variant) = self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl ElfFacts {
    /// The OCI platform this binary runs on, read from its header and, for
    /// 32-bit Arm, its `Tag_CPU_arch` attribute. `None` for a machine the
    /// image-spec names no platform for, or a 32-bit Arm binary without
    /// the attribute or built for a version Linux images do not use.
    pub fn oci_platform(&self) -> Option<OciPlatform> {
        use object::elf::*;
        let (architecture, variant) = match (self.machine, self.class, self.little_endian) {
            (EM_ARM, ElfClass::Elf32, true) => ("arm", Some(arm_variant(self.arm_cpu_arch?)?)),
            (EM_X86_64, ElfClass::Elf64, true) => ("amd64", None),
            // The image-spec's platform-variants table: arm64 is "v8".
            (EM_AARCH64, ElfClass::Elf64, true) => ("arm64", Some("v8")),
            (EM_386, ElfClass::Elf32, true) => ("386", None),
            (EM_RISCV, ElfClass::Elf64, true) => ("riscv64", None),
            (EM_PPC64, ElfClass::Elf64, true) => ("ppc64le", None),
            (EM_PPC64, ElfClass::Elf64, false) => ("ppc64", None),
            (EM_S390, ElfClass::Elf64, false) => ("s390x", None),
            _ => return None,
        };
        Some(OciPlatform {
            architecture,
            variant,
        })
    }
}

/// The image-spec's variant for an Arm `Tag_CPU_arch` value (the ARM ABI's
/// "Addenda to, and Errata in, the ABI for the Arm Architecture", 2.4).
/// The M profiles (11, 12, 13) and pre-v5 cores run no Linux image.
fn arm_variant(cpu_arch: u64) -> Option<&'static str> {
    match cpu_arch {
        3..=5 => Some("v5"), // v5T, v5TE, v5TEJ
        6..=9 => Some("v6"), // v6, v6KZ, v6T2, v6K
        10 => Some("v7"),    // v7 (A and R)
        14 => Some("v8"),    // v8-A in AArch32 state
        _ => None,
    }
}

/// `Tag_CPU_arch` of the first `aeabi` file-scope attributes subsection
/// with one. The attribute reader needs each value's type: the ABI's rule is
/// that tags 4, 5, 65 and 67 (and odd tags above 32) hold strings, 32
/// (Tag_compatibility) an integer then a string, every other an integer.
fn arm_cpu_arch<Elf: FileHeader<Endian = Endianness>>(
    header: &Elf,
    endian: Endianness,
    data: &[u8],
) -> object::read::Result<Option<u64>> {
    const TAG_CPU_ARCH: u64 = 6;
    for section in header.section_headers(endian, data)? {
        if section.sh_type(endian) != SHT_ARM_ATTRIBUTES {
            continue;
        }
        let mut subsections = section.attributes(endian, data)?.subsections()?;
        while let Some(subsection) = subsections.next()? {
            if subsection.vendor() != b"aeabi" {
                continue;
            }
            let mut subsubsections = subsection.subsubsections();
            while let Some(subsubsection) = subsubsections.next()? {
                if subsubsection.tag() != Tag_File {
                    continue;
                }
                let mut reader = subsubsection.attributes();
                while let Some(tag) = reader.read_tag()? {
                    match tag {
                        TAG_CPU_ARCH => return Ok(Some(reader.read_integer()?)),
                        4 | 5 | 65 | 67 => drop(reader.read_string()?),
                        32 => {
                            reader.read_integer()?;
                            reader.read_string()?;
                        }
                        t if t > 32 && t % 2 == 1 => drop(reader.read_string()?),
                        _ => drop(reader.read_integer()?),
                    }
                }
            }
        }
    }
    Ok(None)
}

fn facts<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
    class: ElfClass,
) -> object::read::Result<ElfFacts> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let has_interpreter = header
        .program_headers(endian, data)?
        .iter()
        .any(|ph| ph.p_type(endian) == PT_INTERP);
    let machine = header.e_machine(endian);
    let arm_cpu_arch = if machine == EM_ARM {
        arm_cpu_arch(header, endian, data)?
    } else {
        None
    };
    Ok(ElfFacts {
        class,
        little_endian: endian == Endianness::Little,
        machine,
        has_interpreter,
        arm_cpu_arch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links `_start` for `target` with clang and lld, static or as a PIE
    /// that names a loader, and reads it back.
    fn linked(target: &str, dynamic: bool) -> ElfFacts {
        let dir = tempfile::tempdir().unwrap();
        let (src, out) = (dir.path().join("start.c"), dir.path().join("a.out"));
        std::fs::write(&src, "void _start(void) { for (;;) ; }\n").unwrap();
        let mut cmd = std::process::Command::new("clang");
        cmd.arg(format!("--target={target}"))
            .args(["-fuse-ld=lld", "-nostdlib", "-o"])
            .arg(&out)
            .arg(&src);
        if dynamic {
            cmd.args(["-fPIE", "-pie", "-Wl,--dynamic-linker=/lib/ld.so.1"]);
        } else {
            cmd.arg("-static");
        }
        let status = cmd
            .status()
            .expect("clang runs (apt-get install clang lld)");
        assert!(status.success(), "{cmd:?}");
        ElfFacts::read(&out).unwrap()
    }

    #[test]
    fn both_classes_static_and_dynamic() {
        use object::elf::{EM_386, EM_AARCH64, EM_X86_64};
        for (target, class, machine, platform) in [
            // 32-bit Arm's variant comes from Tag_CPU_arch, as clang
            // records the --target's architecture.
            (
                "armv7-linux-gnueabihf",
                ElfClass::Elf32,
                EM_ARM,
                "linux/arm/v7",
            ),
            (
                "armv6-linux-gnueabihf",
                ElfClass::Elf32,
                EM_ARM,
                "linux/arm/v6",
            ),
            (
                "armv5te-linux-gnueabi",
                ElfClass::Elf32,
                EM_ARM,
                "linux/arm/v5",
            ),
            (
                "x86_64-linux-gnu",
                ElfClass::Elf64,
                EM_X86_64,
                "linux/amd64",
            ),
            ("i686-linux-gnu", ElfClass::Elf32, EM_386, "linux/386"),
            (
                "aarch64-linux-gnu",
                ElfClass::Elf64,
                EM_AARCH64,
                "linux/arm64/v8",
            ),
        ] {
            for dynamic in [false, true] {
                let facts = linked(target, dynamic);
                assert_eq!(
                    (facts.class, facts.machine, facts.little_endian),
                    (class, machine, true),
                    "{target}"
                );
                assert_eq!(facts.is_static(), !dynamic, "{target} dynamic={dynamic}");
                assert_eq!(facts.oci_platform().unwrap().to_string(), platform);
            }
        }
    }

    /// Without its attributes section a 32-bit Arm binary does not say
    /// which variant it is, and gets no platform rather than a guessed one.
    #[test]
    fn arm_without_attributes_has_no_platform() {
        let dir = tempfile::tempdir().unwrap();
        let (src, out) = (dir.path().join("start.c"), dir.path().join("a.out"));
        std::fs::write(&src, "void _start(void) { for (;;) ; }\n").unwrap();
        let status = std::process::Command::new("clang")
            .args([
                "--target=armv7-linux-gnueabihf",
                "-fuse-ld=lld",
                "-nostdlib",
                "-static",
                "-o",
            ])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("clang runs");
        assert!(status.success());
        let status = std::process::Command::new("llvm-objcopy")
            .args(["--remove-section=.ARM.attributes"])
            .arg(&out)
            .status()
            .expect("llvm-objcopy runs (apt-get install llvm)");
        assert!(status.success());
        let facts = ElfFacts::read(&out).unwrap();
        assert_eq!((facts.machine, facts.arm_cpu_arch), (EM_ARM, None));
        assert_eq!(facts.oci_platform(), None);
    }

    #[test]
    fn not_elf_and_truncated_files_are_errors() {
        assert!(matches!(
            ElfFacts::parse(b"#!/bin/sh\necho hi\n"),
            Err(ElfError::NotElf)
        ));
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(ElfFacts::parse(&sh).unwrap().has_interpreter);
        assert!(ElfFacts::parse(&sh[..100]).is_err());
    }
}
