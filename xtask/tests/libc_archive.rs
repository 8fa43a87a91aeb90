//! What the built libc.a contains, read with llvm-nm and llvm-readelf:
//! mimalloc is in, mallocng and the bump allocator are out, nothing of
//! mimalloc's own API leaks out as a global symbol, and its thread-local
//! variables use the local-exec TLS model of static executables.

mod common;

use std::process::Command;

use common::{X86_64, for_each_target, sysroot};

/// `(type, name)` of every symbol definition in an archive or object.
fn defined_symbols(path: &std::path::Path) -> Vec<(char, String)> {
    let output = Command::new("llvm-nm")
        .arg("--defined-only")
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "llvm-nm {}", path.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace().rev();
            let name = parts.next()?;
            let kind = parts.next()?.chars().next()?;
            Some((kind, name.to_owned()))
        })
        .collect()
}

fn definitions_of<'a>(symbols: &'a [(char, String)], name: &str) -> Vec<&'a char> {
    symbols
        .iter()
        .filter(|(_, n)| n == name)
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn mimalloc_is_in_and_the_other_allocators_are_out() {
    for_each_target(|triple| {
        let libc = sysroot(triple).dir.join("lib/libc.a");
        let symbols = defined_symbols(&libc);

        // Every allocator entry point is defined once, globally, by the
        // mimalloc glue object (weak where musl has it weak).
        for name in [
            "__libc_malloc",
            "__libc_malloc_impl",
            "__libc_calloc",
            "__libc_realloc",
            "__libc_free",
            "aligned_alloc",
            "malloc_usable_size",
            "free",
            "realloc",
            "posix_memalign",
            "memalign",
            "valloc",
            "reallocarray",
        ] {
            assert_eq!(definitions_of(&symbols, name), [&'T'], "{triple}: {name}");
        }
        for name in ["malloc", "calloc"] {
            assert_eq!(definitions_of(&symbols, name), [&'W'], "{triple}: {name}");
        }
        // __malloc_atfork: ours (strong) beside fork.c's weak no-op default.
        let mut atfork = definitions_of(&symbols, "__malloc_atfork");
        atfork.sort();
        assert_eq!(atfork, [&'T', &'W'], "{triple}: __malloc_atfork");

        // mimalloc's code is there, as local symbols only.
        for name in [
            "mi_malloc",
            "mi_free",
            "mi_calloc",
            "mi_realloc",
            "mi_malloc_aligned",
            "_mi_malloc_generic",
            "mi_process_init",
            "mi_process_done",
        ] {
            let kinds = definitions_of(&symbols, name);
            assert!(!kinds.is_empty(), "{triple}: mimalloc's {name} is missing");
            assert!(
                kinds.iter().all(|k| k.is_ascii_lowercase()),
                "{triple}: {name} is global: {kinds:?}"
            );
        }
        let global_mi: Vec<&str> = symbols
            .iter()
            .filter(|(k, n)| {
                k.is_ascii_uppercase() && (n.starts_with("mi_") || n.starts_with("_mi_"))
            })
            .map(|(_, n)| n.as_str())
            .collect();
        assert!(
            global_mi.is_empty(),
            "{triple}: global mimalloc symbols would clash: {global_mi:?}"
        );

        // mallocng, oldmalloc and lite_malloc's bump allocator are gone.
        for name in [
            "__malloc_alloc_meta",
            "__malloc_context",
            "__malloc_size_classes",
            "__malloc_allzerop",
            "__simple_malloc",
            "__dump_heap",
        ] {
            assert!(
                definitions_of(&symbols, name).is_empty(),
                "{triple}: {name} is still defined"
            );
        }
        // The bump allocator's lock exists only as fork.c's weak null default.
        let bump = definitions_of(&symbols, "__bump_lockptr");
        assert!(
            bump.iter().all(|k| matches!(k, 'V' | 'W')),
            "{triple}: __bump_lockptr: {bump:?}"
        );

        // strdup/strndup only from musl; no C++ operators from mimalloc.
        for name in ["strdup", "strndup"] {
            assert_eq!(definitions_of(&symbols, name), [&'T'], "{triple}: {name}");
        }
        let cxx: Vec<&str> = symbols
            .iter()
            .map(|(_, n)| n.as_str())
            .filter(|n| n.starts_with("_Zn") || n.starts_with("_Zd"))
            .collect();
        assert!(cxx.is_empty(), "{triple}: C++ operators in libc.a: {cxx:?}");
    });
}

#[test]
fn mimalloc_thread_locals_use_the_local_exec_model() {
    for_each_target(|triple| {
        let s = sysroot(triple);
        let dir = tempfile::tempdir().unwrap();
        let member = dir.path().join("glue.lo");
        let extracted = Command::new("llvm-ar")
            .current_dir(dir.path())
            .args(["x"])
            .arg(s.dir.join("lib/libc.a"))
            .arg("glue.lo")
            .status()
            .unwrap();
        assert!(
            extracted.success() && member.exists(),
            "{triple}: no glue.lo in libc.a"
        );
        let output = Command::new("llvm-readelf")
            .arg("--relocations")
            .arg(&member)
            .output()
            .unwrap();
        let relocations = String::from_utf8_lossy(&output.stdout);
        let tls: Vec<&str> = relocations
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|kind| ["TLS", "TPOFF", "TPREL"].iter().any(|k| kind.contains(k)))
            .collect();
        // Local-exec relocations, by the ELF psABIs' names: x86_64's
        // TPOFF32/64, i386's TLS_LE, aarch64's TLSLE_*, arm's TLS_LE32, riscv's
        // and powerpc64's TPREL*. Initial-exec ones go through the GOT
        // (GOTTPOFF, TLS_IE, GOT_TPREL), dynamic ones through DTP*/GD/DESC.
        let (local_exec, others): (Vec<&str>, Vec<&str>) = tls.iter().partition(|kind| {
            !kind.contains("GOT")
                && !kind.contains("DTP")
                && ["TLS_LE", "TLSLE", "TPREL", "TPOFF"]
                    .iter()
                    .any(|k| kind.contains(k))
        });
        assert!(
            !local_exec.is_empty(),
            "{triple}: no local-exec TLS relocations found:\n{relocations}"
        );
        assert!(
            others.is_empty(),
            "{triple}: TLS relocations of other models: {others:?}"
        );
    });
}

/// Each archive member's relocation targets, from `llvm-objdump -r`.
fn relocation_targets(archive: &std::path::Path) -> Vec<(String, String)> {
    let output = Command::new("llvm-objdump")
        .arg("-r")
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "llvm-objdump -r {}",
        archive.display()
    );
    let mut member = String::new();
    let mut targets = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some(rest) = line.split_once(".a(").map(|(_, r)| r)
            && let Some((name, _)) = rest.split_once("):")
        {
            member = name.to_owned();
        } else if line.starts_with(|c: char| c.is_ascii_hexdigit())
            && let Some(value) = line.split_whitespace().nth(2)
        {
            let symbol = value.split(['+', '-']).next().unwrap_or(value);
            targets.push((member.clone(), symbol.to_owned()));
        }
    }
    targets
}

/// fastmusl's x86_64 string functions are C; compiled freestanding, none
/// may call itself or another of them (a compiler that recognised a copy
/// loop would make memcpy call memcpy).
#[test]
fn the_string_functions_call_none_of_themselves() {
    let functions = [
        "memcpy", "memmove", "memset", "memcmp", "bcmp", "strlen", "memchr",
    ];
    let libc = sysroot(X86_64).dir.join("lib/libc.a");
    let targets = relocation_targets(&libc);
    for member in [
        "memcpy.lo",
        "memmove.lo",
        "memset.lo",
        "memcmp.lo",
        "strlen.lo",
        "memchr.lo",
        "string_init.lo",
    ] {
        let calls: Vec<&String> = targets
            .iter()
            .filter(|(m, _)| m == member)
            .map(|(_, t)| t)
            .collect();
        let bad: Vec<&&String> = calls
            .iter()
            .filter(|t| functions.contains(&t.as_str()))
            .collect();
        assert!(bad.is_empty(), "{member} calls {bad:?}");
        // The members are fastmusl's: memcpy shares memmove's large
        // copies, one per CPU choice, which it reads.
        if member == "memcpy.lo" {
            for shared in [
                "__fastmusl_copy_avx2",
                "__fastmusl_copy_sse2",
                "__fastmusl_x86_features",
            ] {
                assert!(calls.iter().any(|t| *t == shared), "{member}: {calls:?}");
            }
        }
    }
    // musl's x86_64 assembly is gone.
    let symbols = defined_symbols(&libc);
    assert!(definitions_of(&symbols, "__memcpy_fwd").is_empty());
    assert_eq!(
        definitions_of(&symbols, "__init_string").len(),
        2,
        "weak default + x86_64's"
    );
}
