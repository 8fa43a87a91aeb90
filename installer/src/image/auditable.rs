//! The dependency list cargo-auditable embeds in binaries, so that
//! scanners (syft, trivy, `cargo audit bin`) find a static binary's crates
//! in the binary itself: zlib-compressed JSON in an ELF section `.dep-v0`.
//!
//! fastmusl writes it as cargo-auditable does, without a rustc wrapper: a
//! relocatable object holding the section and one symbol, linked into the
//! binary by `-C link-arg`, kept by `--undefined` against the linker's
//! `--gc-sections`. The object copies its ELF class, byte order, machine
//! and ABI flags (`e_flags`: Arm's EABI and float ABI, RISC-V's float ABI,
//! POWER's ELFv2) from the sysroot's own `crt1.o`, so it links wherever the
//! sysroot's objects link; nothing here knows an architecture.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use object::Object;

/// The section's name, as cargo-auditable and its readers spell it.
pub const SECTION: &str = ".dep-v0";
/// The symbol the linker is told to keep.
pub const SYMBOL: &str = "AUDITABLE_VERSION_INFO";

/// The section's contents: the JSON, zlib-compressed.
pub fn section_bytes(info: &auditable_serde::VersionInfo) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(info)?;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(7));
    encoder.write_all(&json)?;
    Ok(encoder.finish()?)
}

/// A relocatable ELF object for the platform of `like` (an object file of
/// the same target) holding `contents` as section `.dep-v0`, named by
/// [`SYMBOL`].
pub fn section_object(contents: &[u8], like: &Path) -> Result<Vec<u8>> {
    let template = std::fs::read(like).with_context(|| format!("reading {}", like.display()))?;
    let template = object::File::parse(&*template)
        .with_context(|| format!("{} is not an object file", like.display()))?;
    if template.format() != object::BinaryFormat::Elf {
        bail!("{} is not an ELF object", like.display());
    }
    let endian = if template.is_little_endian() {
        object::Endianness::Little
    } else {
        object::Endianness::Big
    };
    let mut file =
        object::write::Object::new(object::BinaryFormat::Elf, template.architecture(), endian);
    file.flags = template.flags();
    let section = file.add_section(
        Vec::new(),
        SECTION.as_bytes().to_vec(),
        object::SectionKind::ReadOnlyData,
    );
    let offset = file.append_section_data(section, contents, 1);
    file.add_symbol(object::write::Symbol {
        name: SYMBOL.as_bytes().to_vec(),
        value: offset,
        size: contents.len() as u64,
        kind: object::SymbolKind::Data,
        scope: object::SymbolScope::Dynamic,
        weak: false,
        section: object::write::SymbolSection::Section(section),
        flags: object::SymbolFlags::None,
    });
    file.write()
        .map_err(|e| anyhow::anyhow!("writing the {SECTION} object: {e}"))
}

/// The rustc flags that link `object` into a binary and keep its section.
pub fn rustc_flags(object: &Path) -> Vec<String> {
    vec![
        format!("-Clink-arg={}", object.display()),
        format!("-Clink-arg=--undefined={SYMBOL}"),
    ]
}

/// The most JSON a `.dep-v0` may decompress to (auditable-info's own
/// default limit).
const MAX_JSON: usize = 8 << 20;

/// What a binary's `.dep-v0` says, or `None` when it has none (it was not
/// built by cargo-auditable or `fastmusl image`).
pub fn read(binary: &[u8]) -> Result<Option<auditable_serde::VersionInfo>> {
    // The reference reader (auditable-info), with its size limits; one
    // parse of the binary.
    match auditable_info::audit_info_from_slice(binary, MAX_JSON) {
        Ok(info) => Ok(Some(info)),
        Err(auditable_info::Error::NoAuditData) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(e))
            .with_context(|| format!("reading the binary's {SECTION} section")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::ObjectSection;

    #[test]
    fn the_object_s_section_reads_back_and_keeps_the_template_s_abi() {
        let info: auditable_serde::VersionInfo = serde_json::from_str(
            r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"itoa","version":"1.0.15","source":"crates.io"}],"format":1}"#,
        )
        .unwrap();
        let contents = section_bytes(&info).unwrap();
        // A template: an ELF object written here for riscv64 with the
        // double-float ABI and compressed instructions.
        let mut template = object::write::Object::new(
            object::BinaryFormat::Elf,
            object::Architecture::Riscv64,
            object::Endianness::Little,
        );
        template.flags = object::FileFlags::Elf {
            os_abi: 0,
            abi_version: 0,
            e_flags: object::elf::EF_RISCV_FLOAT_ABI_DOUBLE | object::elf::EF_RISCV_RVC,
        };
        let dir = tempfile::tempdir().unwrap();
        let like = dir.path().join("crt1.o");
        std::fs::write(&like, template.write().unwrap()).unwrap();

        let bytes = section_object(&contents, &like).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        assert_eq!(file.architecture(), object::Architecture::Riscv64);
        assert_eq!(
            file.flags(),
            object::FileFlags::Elf {
                os_abi: 0,
                abi_version: 0,
                e_flags: object::elf::EF_RISCV_FLOAT_ABI_DOUBLE | object::elf::EF_RISCV_RVC,
            }
        );
        let section = file.section_by_name(SECTION).unwrap();
        assert_eq!(section.data().unwrap(), contents);
        assert!(
            file.symbols()
                .any(|s| object::ObjectSymbol::name(&s) == Ok(SYMBOL))
        );
    }
}
