//! The pipeline itself: reuse when nothing changed,
//! refusal of sources that do not match their pins (with nothing unpacked),
//! and the wrappers' messages when a host tool is missing.

mod common;

use std::{
    io::{Read, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use common::{for_each_target, shared_mirror, stderr_of, sysroot, which};
use xtask::{
    sysroot::{MANIFEST_FILE, SysrootRequest, build_or_reuse},
    tree_hash::{Tree, sha256_hex},
};

#[test]
fn an_unchanged_sysroot_is_reused_not_rebuilt() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let libc = s.dir.join("lib/libc.a");
    let before = std::fs::metadata(&libc).unwrap().modified().unwrap();
    let request = SysrootRequest {
        triple: "x86_64-unknown-linux-musl".parse().unwrap(),
        mirror: Some(shared_mirror()),
        out_root: s.dir.parent().unwrap().to_path_buf(),
        extra_flavors: Vec::new(),
    };
    assert_eq!(build_or_reuse(&request).unwrap(), s.dir);
    assert_eq!(
        std::fs::metadata(&libc).unwrap().modified().unwrap(),
        before
    );
}

/// A mirror with `musl` and `mimalloc` archives, either possibly replaced,
/// and musl's upstream fixes.
fn mirror_with(musl: Option<Vec<u8>>, mimalloc: Option<Vec<u8>>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let real = shared_mirror();
    for (name, replacement) in [
        ("musl-1.2.6.tar.gz", musl),
        ("mimalloc-3.4.3.tar.gz", mimalloc),
    ] {
        let bytes = replacement.unwrap_or_else(|| std::fs::read(real.join(name)).unwrap());
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let fixes = dir.path().join("musl-patches");
    std::fs::create_dir(&fixes).unwrap();
    for entry in std::fs::read_dir(real.join("musl-patches")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, fixes.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn build_from(mirror: &Path) -> (anyhow::Result<PathBuf>, tempfile::TempDir) {
    let out_root = tempfile::tempdir().unwrap();
    let request = SysrootRequest {
        triple: "x86_64-unknown-linux-musl".parse().unwrap(),
        mirror: Some(mirror.to_path_buf()),
        out_root: out_root.path().to_path_buf(),
        extra_flavors: Vec::new(),
    };
    (build_or_reuse(&request), out_root)
}

/// Nothing was unpacked or installed under `out_root`.
fn assert_nothing_built(out_root: &Path) {
    let entries: Vec<String> = std::fs::read_dir(out_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert!(entries.is_empty(), "left behind: {entries:?}");
}

#[test]
fn a_musl_archive_with_one_flipped_bit_is_refused() {
    let mut musl = std::fs::read(shared_mirror().join("musl-1.2.6.tar.gz")).unwrap();
    let middle = musl.len() / 2;
    musl[middle] ^= 0x01;
    let actual = sha256_hex(&musl);
    let mirror = mirror_with(Some(musl), None);
    let (result, out_root) = build_from(mirror.path());
    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains("musl-1.2.6.tar.gz"), "{message}");
    assert!(
        message
            .contains("expected d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a"),
        "{message}"
    );
    assert!(message.contains(&format!("actual {actual}")), "{message}");
    assert!(message.contains("Nothing was unpacked"), "{message}");
    assert_nothing_built(out_root.path());
}

/// Repacks the mimalloc archive with one file's content changed: the
/// archive is a valid .tar.gz, only the tree hash can tell.
fn mimalloc_with_one_file_changed() -> (Vec<u8>, String) {
    let original = std::fs::read(shared_mirror().join("mimalloc-3.4.3.tar.gz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(original.as_slice()));
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if entry.path().unwrap().ends_with("src/alloc.c") {
            content.extend_from_slice(b"\n/* an extra line */\n");
            header.set_size(content.len() as u64);
            header.set_cksum();
        }
        builder.append(&header, content.as_slice()).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let tree = Tree::from_tar(tar.as_slice()).unwrap().sha256();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), tree)
}

#[test]
fn a_mimalloc_tree_with_one_changed_file_is_refused() {
    let (mimalloc, actual_tree) = mimalloc_with_one_file_changed();
    let mirror = mirror_with(None, Some(mimalloc));
    let (result, out_root) = build_from(mirror.path());
    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains("mimalloc-3.4.3.tar.gz"), "{message}");
    assert!(
        message.contains(
            "tree sha256: expected 59508ce0e193e14e0e3c6fedcf9324ad1b0cbf777548843b76f04af2518dd322"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("actual {actual_tree}")),
        "{message}"
    );
    assert_nothing_built(out_root.path());
}

/// One changed byte in an upstream fix (the GB18030 one, CVE-2026-6042):
/// refused by its pin before anything is unpacked.
#[test]
fn a_musl_fix_with_one_changed_byte_is_refused() {
    let mirror = mirror_with(None, None);
    let name = "musl-patches/0007-fix-pathological-slowness-incorrect-mappings-in-icon.patch";
    let path = mirror.path().join(name);
    let mut patch = std::fs::read(&path).unwrap();
    let at = patch.len() - 100;
    patch[at] ^= 0x20;
    std::fs::write(&path, &patch).unwrap();
    let (result, out_root) = build_from(mirror.path());
    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains(name), "{message}");
    assert!(
        message
            .contains("expected b4f16a9a61d73fc8856a89e56c38d03935889ed51d2ef461c173ebf924bef576"),
        "{message}"
    );
    assert!(
        message.contains(&format!("actual {}", sha256_hex(&patch))),
        "{message}"
    );
    assert!(message.contains("Nothing was unpacked"), "{message}");
    assert_nothing_built(out_root.path());
}

#[test]
fn a_mirror_without_the_file_says_which_file() {
    let mirror = tempfile::tempdir().unwrap();
    let (result, out_root) = build_from(mirror.path());
    let message = format!("{:#}", result.unwrap_err());
    assert!(
        message.contains("has no readable musl-1.2.6.tar.gz"),
        "{message}"
    );
    assert_nothing_built(out_root.path());
}

/// A directory for PATH that has only the few commands the wrappers use
/// besides the tool under test.
fn bare_path(commands: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for cmd in commands {
        let real = which(cmd);
        std::os::unix::fs::symlink(real, dir.path().join(cmd)).unwrap();
    }
    dir
}

#[test]
fn wrappers_name_the_package_of_a_missing_tool() {
    let s = sysroot("aarch64-unknown-linux-musl");

    let cc = Command::new(&s.tools.cc)
        .arg("-c")
        .arg("x.c")
        .env("FASTMUSL_CLANG", "/nonexistent/clang")
        .output()
        .unwrap();
    assert_eq!(cc.status.code(), Some(127));
    assert!(
        stderr_of(&cc).contains("apt-get install clang"),
        "{}",
        stderr_of(&cc)
    );

    let path = bare_path(&["dirname"]);
    let ar = Command::new(&s.tools.ar)
        .arg("t")
        .arg("x.a")
        .env("PATH", path.path())
        .env_remove("FASTMUSL_AR")
        .output()
        .unwrap();
    assert_eq!(ar.status.code(), Some(127));
    assert!(
        stderr_of(&ar).contains("apt-get install llvm"),
        "{}",
        stderr_of(&ar)
    );

    let ld = Command::new(&s.tools.linker)
        .args(["-o", "x", "x.o"])
        .env("PATH", path.path())
        .env_remove("FASTMUSL_RUST_LLD")
        .output()
        .unwrap();
    assert!(!ld.status.success());
    assert!(
        stderr_of(&ld).contains("cannot find rust-lld"),
        "{}",
        stderr_of(&ld)
    );
}

#[test]
fn the_manifest_records_versions_pins_and_flags() {
    for_each_target(|triple| {
        let s = sysroot(triple);
        assert_eq!(s.manifest.version, "musl1.2.6-mimalloc3.4.3-r10");
        assert_eq!(s.manifest.target, triple);
        // The wiring contract: tools by relative path, static linking
        // stated, and the table's emulator.
        let wiring = &s.manifest.wiring;
        assert_eq!(wiring.linker, format!("bin/{triple}-ld"));
        assert_eq!(wiring.rustflags, ["-C", "target-feature=+crt-static"]);
        assert_eq!(wiring.runner.emulator, s.platform.emulator, "{triple}");
        // The nightly that builds std where rustup ships none: the table's
        // pin, dated.
        let pinned = xtask::platforms::PlatformTable::project()
            .unwrap()
            .common
            .build_std_toolchain;
        assert!(pinned.starts_with("nightly-20"), "{pinned}");
        assert_eq!(wiring.build_std_toolchain.as_deref(), Some(pinned.as_str()));
        // The licenses of what goes into users' binaries travel with it.
        let licenses = s.dir.join(xtask::sysroot::LICENSES_DIR);
        for (file, opening) in [
            (
                "musl/COPYRIGHT",
                "musl as a whole is licensed under the following standard MIT license",
            ),
            ("mimalloc/LICENSE", "MIT License"),
            (
                "llvm-runtimes/LICENSE.TXT",
                "The LLVM Project is under the Apache License v2.0 with LLVM Exceptions",
            ),
            ("linux-uapi-headers/copyright", "Format: "),
        ] {
            let text = std::fs::read_to_string(licenses.join(file))
                .unwrap_or_else(|e| panic!("{triple}: {file}: {e}"));
            assert!(text.contains(opening), "{triple}: {file}");
        }
        assert_eq!(
            licenses.join("optimized-routines/LICENSE").is_file(),
            s.platform.arm_optimized_routines,
            "{triple}"
        );
        // C++: the wrapper, libc++ as the library crates link, its headers
        // and archive, and what it was built with.
        assert_eq!(
            wiring.cxx.as_deref(),
            Some(format!("bin/{triple}-c++").as_str())
        );
        assert_eq!(wiring.cxxstdlib.as_deref(), Some("c++"));
        assert!(s.dir.join("include/c++/v1/__config_site").is_file());
        assert!(s.dir.join("include/c++/v1/cxxabi.h").is_file());
        assert!(s.dir.join("lib/libc++.a").is_file());
        assert!(
            !s.dir.join("lib/libc++abi.a").exists(),
            "libc++abi is inside libc++.a"
        );
        assert!(
            !s.dir.join("lib/libunwind.a").exists(),
            "it would shadow Rust's"
        );
        assert_eq!(
            std::fs::read_to_string(s.dir.join("lib/libstdc++.a")).unwrap(),
            xtask::libcxx::LIBSTDCXX_SCRIPT
        );
        let m = &s.record;
        assert!(
            m.compiler.cxx_version.contains("clang version 19."),
            "{}",
            m.compiler.cxx_version
        );
        assert!(
            m.flags
                .libcxx_cmake
                .iter()
                .any(|f| f == "-DLIBCXXABI_USE_LLVM_UNWINDER=OFF")
        );
        assert_eq!(
            m.musl.archive_sha256.as_deref(),
            Some("d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a")
        );
        assert!(m.mimalloc.tree_sha256.is_some());
        assert_eq!(m.llvm_runtimes.version, "19.1.7", "{triple}");
        assert_eq!(m.patches.len(), 12);
        assert!(
            m.patches
                .iter()
                .any(|p| p.path == "llvm-runtimes/0001-copy-headers-per-directory.patch")
        );
        // aarch64's string functions come from Arm's optimized-routines.
        assert_eq!(
            m.optimized_routines.as_ref().map(|p| p.version.as_str()),
            (triple == "aarch64-unknown-linux-musl").then_some("26.01"),
            "{triple}"
        );
        // Upstream's fixes since 1.2.6, in order, and no advisory left open.
        let fixes = &m.musl.upstream_fixes;
        assert_eq!(fixes.len(), 19, "{triple}");
        assert!(fixes[0].commit.starts_with("6f6bd4a1896b"));
        assert!(fixes[18].commit.starts_with("b306b16af15c"));
        let gb18030 = fixes.iter().find(|f| f.commit.starts_with("67219f0130ec"));
        assert_eq!(gb18030.unwrap().advisories, ["CVE-2026-6042"]);
        assert!(m.musl.open_advisories.is_empty());
        let text = std::fs::read_to_string(s.dir.join(MANIFEST_FILE)).unwrap();
        assert!(text.contains("open_advisories = []"), "{text}");
        assert!(
            m.compiler.version.contains("clang"),
            "{}",
            m.compiler.version
        );
        assert!(
            m.flags
                .mimalloc_cflags
                .iter()
                .any(|f| f == "-ftls-model=local-exec")
        );
        assert_eq!(m.uapi_headers.dirs, ["linux", "asm", "asm-generic"]);
        assert!(s.dir.join("include/linux/if_alg.h").exists());
        assert!(s.dir.join("include/asm/unistd.h").exists());
        assert!(s.dir.join(MANIFEST_FILE).exists());
        // The secure flavor: the same build (fingerprint, wiring), its
        // flavor and mimalloc's secure level recorded.
        let secure = common::sysroot_in(triple, "secure");
        assert_eq!(
            (s.manifest.flavor.as_str(), secure.manifest.flavor.as_str()),
            ("default", "secure")
        );
        assert_eq!(secure.record.inputs_sha256, m.inputs_sha256);
        assert_eq!(secure.manifest.wiring, s.manifest.wiring);
        let level = |s: &xtask::fixture::Sysroot| {
            let flags = &s.record.flags.mimalloc_cflags;
            flags
                .iter()
                .filter(|f| f.starts_with("-DMI_SECURE="))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(level(s), ["-DMI_SECURE=0"], "{triple}");
        assert_eq!(level(secure), ["-DMI_SECURE=4"], "{triple}");
        // The footprint defaults (patches/mimalloc/0003-0005): recorded by
        // option name as the build flags set them, the same in both flavors.
        for f in [s, secure] {
            let recorded = &f.manifest.allocator_defaults;
            assert_eq!(
                recorded,
                &xtask::sysroot::allocator_defaults(&f.record.flags.mimalloc_cflags),
                "{triple}"
            );
            assert_eq!(
                recorded.keys().map(String::as_str).collect::<Vec<_>>(),
                ["idle_purge", "limit_aware", "thp_after"],
                "{triple}"
            );
            // No 4 MiB pages shared by 84-512 KiB blocks, which THP would
            // make resident 2 MiB at a time (sysroots/targets.toml).
            assert!(
                f.record
                    .flags
                    .mimalloc_cflags
                    .iter()
                    .any(|flag| flag == "-DMI_ENABLE_LARGE_PAGES=0"),
                "{triple}"
            );
            // ... recorded apart, as a switch no variable changes.
            assert_eq!(
                f.manifest.allocator_build.iter().collect::<Vec<_>>(),
                [(&"enable_large_pages".to_owned(), &0)],
                "{triple}"
            );
        }
        assert_eq!(
            s.manifest.allocator_defaults,
            secure.manifest.allocator_defaults
        );
    });
}

/// The linker wrapper against a stand-in rust-lld that records what it was
/// given: rustup's self-contained crt objects become the sysroot's (also
/// inside a response file), the sysroot's lib/ is searched first, and every
/// other argument passes through unchanged and in order.
#[test]
fn the_linker_wrapper_swaps_only_the_crt_objects() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let dir = tempfile::tempdir().unwrap();
    let (fake_lld, record) = recording_rust_lld(dir.path());

    let rustup = "/home/u/.rustup/toolchains/stable/lib/rustlib/x86_64-unknown-linux-musl/lib";
    let response = dir.path().join("linker-args");
    std::fs::write(
        &response,
        format!("{rustup}/self-contained/crti.o\nmain.o\n-lc\n"),
    )
    .unwrap();
    let args = [
        "-m".to_owned(),
        "elf_x86_64".to_owned(),
        format!("{rustup}/self-contained/rcrt1.o"),
        format!("{rustup}/self-contained/crtbeginS.o"),
        format!("@{}", response.display()),
        format!("-L{rustup}/self-contained"),
        "--as-needed".to_owned(),
        format!("{rustup}/self-contained/crtn.o"),
    ];
    let out = Command::new(&s.tools.linker)
        .args(&args)
        .env("FASTMUSL_RUST_LLD", &fake_lld)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lib = s.dir.join("lib");
    let recorded = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    let expected_head = [
        "-flavor".to_owned(),
        "gnu".to_owned(),
        "-L".to_owned(),
        lib.display().to_string(),
    ];
    assert_eq!(
        lines[..4],
        expected_head.iter().map(String::as_str).collect::<Vec<_>>()[..],
        "{recorded}"
    );
    assert_eq!(
        lines[4..7],
        ["-m", "elf_x86_64", &format!("{}/rcrt1.o", lib.display())],
        "{recorded}"
    );
    assert_eq!(
        lines[7],
        format!("{rustup}/self-contained/crtbeginS.o"),
        "crtbegin is not ours to swap"
    );
    assert!(
        lines[8].starts_with('@') && !lines[8].contains("linker-args"),
        "response file not rewritten: {recorded}"
    );
    assert_eq!(
        lines[9..12],
        [
            format!("  {}/crti.o", lib.display()),
            "  main.o".to_owned(),
            "  -lc".to_owned()
        ],
        "{recorded}"
    );
    assert_eq!(
        lines[12..],
        [
            format!("-L{rustup}/self-contained"),
            "--as-needed".to_owned(),
            format!("{}/crtn.o", lib.display()),
            "-L".to_owned(),
            lib.join("fallback").display().to_string(),
        ],
        "{recorded}"
    );
}

/// Without rust-std for the target (`-Zbuild-std`), rustc names the crt
/// objects bare, expecting the linker to know them: the wrapper gives the
/// sysroot's, and searches lib/fallback/ (libunwind.a) last.
#[test]
fn the_linker_wrapper_gives_bare_crt_names_the_sysroot_s_objects() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let dir = tempfile::tempdir().unwrap();
    let (fake_lld, record) = recording_rust_lld(dir.path());
    let out = Command::new(&s.tools.linker)
        .args([
            "crt1.o",
            "crti.o",
            "crtbegin.o",
            "main.o",
            "-lunwind",
            "crtend.o",
            "crtn.o",
        ])
        .env("FASTMUSL_RUST_LLD", &fake_lld)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lib = s.dir.join("lib");
    let at = |name: &str| lib.join(name).display().to_string();
    let recorded = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(
        lines[4..],
        [
            at("crt1.o"),
            at("crti.o"),
            at("crtbegin.o"),
            "main.o".to_owned(),
            "-lunwind".to_owned(),
            at("crtend.o"),
            at("crtn.o"),
            "-L".to_owned(),
            at("fallback"),
        ],
        "{recorded}"
    );
    for name in [
        "crt1.o",
        "crtbegin.o",
        "crtend.o",
        "fallback/libunwind.a",
        "fallback/libatomic.a",
    ] {
        assert!(
            lib.join(name).is_file(),
            "{name} is missing from the sysroot"
        );
    }
}

/// A stand-in `rust-lld` in `dir` that writes each argument it gets to a
/// file, one per line, followed by the lines of any response file (indented
/// by two spaces); returns (its path, the record's path).
fn recording_rust_lld(dir: &Path) -> (PathBuf, PathBuf) {
    let record = dir.join("args");
    let fake_lld = dir.join("rust-lld");
    std::fs::write(
        &fake_lld,
        format!(
            "#!/bin/sh\nfor a do printf '%s\\n' \"$a\"; case $a in @*) sed 's/^/  /' \"${{a#@}}\";; esac; done > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake_lld, std::fs::Permissions::from_mode(0o755)).unwrap();
    (fake_lld, record)
}

/// rustc escapes spaces and backslashes in its GNU-style response files,
/// and rust-lld unescapes them: the wrapper finds rust-lld from an escaped
/// path, and writes this sysroot's crt objects escaped, here with a space
/// in both the rustup home and the sysroot.
#[test]
fn the_linker_wrapper_keeps_response_file_escapes() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("Jane Doe/sysroot");
    std::fs::create_dir_all(moved.join("bin")).unwrap();
    std::fs::create_dir_all(moved.join("lib")).unwrap();
    let linker = moved.join("bin").join(s.tools.linker.file_name().unwrap());
    std::fs::copy(&s.tools.linker, &linker).unwrap();

    let rustup = dir.path().join("Rust Up/toolchains/stable");
    let lld_dir = rustup.join("lib/rustlib/x86_64-unknown-linux-gnu/bin");
    std::fs::create_dir_all(&lld_dir).unwrap();
    let (_, record) = recording_rust_lld(&lld_dir);

    let escaped = |p: &Path| p.display().to_string().replace(' ', "\\ ");
    let self_contained = rustup.join("lib/rustlib/x86_64-unknown-linux-musl/lib/self-contained");
    let response = dir.path().join("linker-args");
    std::fs::write(
        &response,
        format!(
            "{}/rcrt1.o\n{}/crtbeginS.o\nmain\\ file.o\n-lc\n",
            escaped(&self_contained),
            escaped(&self_contained)
        ),
    )
    .unwrap();
    let out = Command::new(&linker)
        .arg(format!("@{}", response.display()))
        .env_remove("FASTMUSL_RUST_LLD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let recorded = std::fs::read_to_string(&record)
        .expect("the rust-lld next to the escaped rustc sysroot was not run");
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(
        lines[5..9],
        [
            format!("  {}/rcrt1.o", escaped(&moved.join("lib"))),
            format!("  {}/crtbeginS.o", escaped(&self_contained)),
            "  main\\ file.o".to_owned(),
            "  -lc".to_owned(),
        ],
        "{recorded}"
    );
}

/// `<triple>-cc` with nothing to compile gives clang's own error, not a
/// link of the crt objects it would add.
#[test]
fn the_c_wrapper_without_input_lets_clang_answer() {
    let s = sysroot("x86_64-unknown-linux-musl");
    let out = Command::new(&s.tools.cc).output().unwrap();
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains("no input files"), "{stderr}");
    assert!(!stderr.contains("undefined symbol"), "{stderr}");
}
