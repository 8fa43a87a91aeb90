//! Heap misuse side by side (`c/misuse_suite.c`): every kind of misuse at
//! a small, a medium and a large block size, run by glibc and stock musl
//! (mallocng, rustup's self-contained musl) as references on x86_64 and by
//! both fastmusl flavors on every target (natively or under qemu). Prints
//! the table of what each stops before the program can say the misuse went
//! through.
//!
//! What it holds every allocator to: no case hangs; every column runs the
//! same cases; fastmusl stops a misuse only by mimalloc's abort or a
//! fault, never by another exit, and stops every double free and every
//! invalid free (or realloc) by mimalloc's abort, in both flavors on every
//! target. The references show the harness can tell both outcomes apart.

mod common;

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Duration,
};

use common::{
    X86_64, c_test_source, compile_c, cxx_test_source, flavor, for_each_target, run_with_timeout,
    stdout_of, sysroot_in,
};

/// How one case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    /// "caught", "missed" or "hung".
    result: String,
    /// "SIGABRT", "SIGSEGV", "exit N", "hung" or "went through".
    how: String,
    /// The first line the case wrote to stderr.
    message: String,
}

/// Cases by "KIND SIZE", in the suite's order.
type Column = Vec<(String, Outcome)>;

/// Runs `misuse_suite all` and parses its lines.
fn run_suite(mut cmd: Command, what: &str) -> Column {
    cmd.arg("all")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, Duration::from_secs(1200))
        .unwrap_or_else(|e| panic!("{what}: misuse_suite all: {e}"));
    let text = stdout_of(&out);
    assert!(out.status.success(), "{what}: {text}");
    let column: Column = text
        .lines()
        .filter_map(|line| line.strip_prefix("case "))
        .map(|line| {
            let (head, message) = line.split_once(" | ").unwrap_or((line, ""));
            let mut words = head.splitn(4, ' ');
            let mut next = || words.next().unwrap_or_default().to_owned();
            let (kind, size, result, how) = (next(), next(), next(), next());
            let outcome = Outcome {
                result,
                how,
                message: message.to_owned(),
            };
            (format!("{kind} {size}"), outcome)
        })
        .collect();
    assert!(!column.is_empty(), "{what}: no cases in {text}");
    column
}

/// The cases that misuse the heap: all but the control ("none").
fn misuses(column: &Column) -> impl Iterator<Item = &(String, Outcome)> {
    column.iter().filter(|(case, _)| !case.starts_with("none "))
}

#[test]
fn heap_misuse_side_by_side() {
    // The suite, and its one C++ case (which links as C: see the file).
    let sources = [
        c_test_source("misuse_suite.c"),
        cxx_test_source("misuse_delete.cpp"),
    ];
    let flags = ["-O2", "-fno-builtin", "-fno-exceptions"];
    let mut columns: BTreeMap<String, Column> = BTreeMap::new();

    // The references, on this x86_64 host (clang, which compiles both).
    let dir = std::env::temp_dir().join(format!("misuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let glibc = dir.join("misuse_suite_glibc");
    let status = Command::new("clang")
        .args(flags)
        .args(["-pthread", "-o"])
        .arg(&glibc)
        .args(&sources)
        .status()
        .expect("running clang");
    assert!(status.success(), "clang misuse_suite.c (glibc) failed");
    let stock = dir.join("misuse_suite_stock_musl");
    xtask::stock_musl::build_c(
        &sysroot_in(X86_64, flavor::DEFAULT).tools.cc,
        &[&sources[0], &sources[1]],
        &flags,
        &stock,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    columns.insert("0 glibc".into(), run_suite(Command::new(&glibc), "glibc"));
    columns.insert(
        "1 stock musl".into(),
        run_suite(Command::new(&stock), "stock musl"),
    );
    let _ = std::fs::remove_dir_all(&dir);

    // fastmusl, both flavors, every target.
    let results = std::sync::Mutex::new(Vec::new());
    for_each_target(|triple| {
        for flavor in [flavor::DEFAULT, "secure"] {
            let s = sysroot_in(triple, flavor);
            let bin = compile_c(
                s,
                &format!("misuse_suite_{flavor}"),
                &sources,
                &["-fno-exceptions"],
            );
            let column = run_suite(s.command_for(&bin), &format!("{triple} {flavor}"));
            results
                .lock()
                .unwrap()
                .push((format!("2 {triple} {flavor}"), column));
        }
    });
    columns.extend(results.into_inner().unwrap());

    print_table(&columns);

    let (_, glibc) = columns.iter().next().unwrap();
    let cases: Vec<&String> = glibc.iter().map(|(case, _)| case).collect();
    for (name, column) in &columns {
        let here: Vec<&String> = column.iter().map(|(case, _)| case).collect();
        assert_eq!(here, cases, "{name} ran other cases than glibc");
        for (case, outcome) in column {
            assert_ne!(outcome.result, "hung", "{name}: {case} hung: {outcome:?}");
            if name.starts_with("2 ") && outcome.result == "caught" {
                let by_mimalloc =
                    outcome.how == "SIGABRT" && outcome.message.contains("mimalloc: ");
                let by_fault = outcome.how == "SIGSEGV" || outcome.how == "SIGBUS";
                assert!(
                    by_mimalloc || by_fault,
                    "{name}: {case} ended neither by mimalloc's abort nor by a fault: {outcome:?}"
                );
            }
        }
    }
    // Both flavors stop every double free and every invalid free at the
    // free (or realloc) that commits it, with mimalloc's message: the
    // checks at every free (patches/mimalloc/0006).
    for (name, column) in columns.iter().filter(|(name, _)| name.starts_with("2 ")) {
        for (case, outcome) in column.iter().filter(|(case, _)| is_bad_free(case)) {
            assert!(
                outcome.how == "SIGABRT" && outcome.message.starts_with("mimalloc: error: "),
                "{name}: {case} was not stopped by mimalloc at the free: {outcome:?}"
            );
        }
    }
    // The secure flavor stops every case glibc or stock musl stops.
    let stock = &columns["1 stock musl"];
    for (name, column) in columns.iter().filter(|(name, _)| name.ends_with(" secure")) {
        for (i, (case, outcome)) in column.iter().enumerate() {
            let by_reference = glibc[i].1.result == "caught" || stock[i].1.result == "caught";
            assert!(
                !by_reference || outcome.result == "caught",
                "{name}: {case} went through, where glibc ({:?}) or stock musl ({:?}) stopped it",
                glibc[i].1,
                stock[i].1
            );
        }
    }
    // The harness tells both outcomes apart: glibc's tcache stops an
    // immediate double free of a small block, and a small block written
    // all over after its free goes through.
    let outcome = |column: &Column, case: &str| {
        column
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, o)| o.result.clone())
            .unwrap_or_default()
    };
    assert_eq!(outcome(glibc, "double-free small"), "caught", "{glibc:?}");
    for (name, column) in &columns {
        for size in ["small", "medium", "large"] {
            let case = format!("none {size}");
            assert_eq!(
                outcome(column, &case),
                "missed",
                "{name}: {case} (no misuse) was stopped: {column:?}"
            );
        }
    }
    assert_eq!(
        outcome(glibc, "use-after-free-write-all small"),
        "missed",
        "{glibc:?}"
    );
}

/// A double free, or a free or realloc of a pointer malloc did not return.
fn is_bad_free(case: &str) -> bool {
    ["double-free", "free-", "realloc-", "delete-of-new-array"]
        .iter()
        .any(|kind| case.starts_with(kind))
}

/// One row per case, one column per allocator: "+" caught, "." missed;
/// then how many misuses each caught (the control left out).
fn print_table(columns: &BTreeMap<String, Column>) {
    let names: Vec<&str> = columns
        .keys()
        .map(|k| k.split_once(' ').map_or(k.as_str(), |(_, n)| n))
        .collect();
    println!("| case | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    let (_, first) = columns.iter().next().unwrap();
    for (i, (case, _)) in first.iter().enumerate() {
        let cells: Vec<String> = columns
            .values()
            .map(|c| match c[i].1.result.as_str() {
                "caught" => format!("+ {}", c[i].1.how),
                "missed" => ".".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        println!("| {case} | {} |", cells.join(" | "));
    }
    let counts: Vec<String> = columns
        .values()
        .map(|c| {
            let caught = misuses(c).filter(|(_, o)| o.result == "caught").count();
            format!("{caught} / {}", misuses(c).count())
        })
        .collect();
    println!("| **caught** | {} |", counts.join(" | "));
}
