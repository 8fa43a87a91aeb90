//! No circle between modules: in each crate, sibling modules (files under
//! the same parent) may depend on each other only one way round, so each
//! can be read, tested and moved knowing only what it imports.
//!
//! A module depends on another where its code names it by path:
//! `crate::a::b` (in `use` or inline) or `super::b`. Between a module and
//! its own ancestors references go both ways by design (a parent calls its
//! children, a child uses its parent's types), so such edges are not
//! counted; every other edge is lifted to the two siblings under the
//! modules' nearest common ancestor. Code after `#[cfg(test)]` is left out:
//! a test module is a child of the module it tests.
//!
//! `cargo test -p xtask --test module_circles -- --nocapture` prints each
//! crate's sibling graph.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use xtask::project_root;

/// A module's path from its crate's root: `[]` is the root, `["image",
/// "sbom"]` is `crate::image::sbom`.
type ModulePath = Vec<String>;

/// Every `.rs` file under `src` that is a module, by module path.
fn modules(src: &Path) -> BTreeMap<ModulePath, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<ModulePath, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(stem);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                if !(prefix.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
                    module.push(stem);
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The paths `text` names after `crate::` or `super::`, each as written
/// (`a::b::c`), with `{…}` groups expanded: `crate::{a, b::{c, d}}` names
/// `a`, `b::c` and `b::d`. `super::` paths come back as `super::…`.
fn named_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + anchor.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `my_crate::`, or `super::super::` counted once
            }
            let prefix = if anchor == "super::" { "super" } else { "" };
            expand(prefix, rest, &mut found);
        }
    }
    found
}

/// Reads one path (with groups) at the start of `rest`, appending each
/// complete path under `prefix` to `out`.
fn expand(prefix: &str, rest: &str, out: &mut Vec<String>) {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}::{b}")
        }
    };
    let ident_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if ident_len > 0 {
        let path = join(prefix, &rest[..ident_len]);
        match rest[ident_len..].strip_prefix("::") {
            Some(more) => expand(&path, more, out),
            None => out.push(path),
        }
    } else if let Some(group) = rest.strip_prefix('{') {
        // Split the group at its top-level commas.
        let (mut depth, mut start) = (0, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(prefix, group[start..i].trim_start(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(prefix, group[start..i].trim_start(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
    } else if !prefix.is_empty() {
        out.push(prefix.to_owned()); // `crate::a::*`, `super::{self}`
    }
}

/// The module a path resolves to from `from`: the longest prefix of it
/// that is a module of the crate.
fn resolve(
    from: &ModulePath,
    path: &str,
    known: &BTreeMap<ModulePath, PathBuf>,
) -> Option<ModulePath> {
    let mut base: ModulePath = Vec::new();
    let mut parts = path.split("::").peekable();
    if parts.peek() == Some(&"super") {
        base = from.clone();
        while parts.peek() == Some(&"super") {
            parts.next();
            base.pop()?;
        }
    }
    let mut best = None;
    let mut module = base;
    if known.contains_key(&module) {
        best = Some(module.clone());
    }
    for part in parts {
        module.push(part.to_owned());
        if known.contains_key(&module) {
            best = Some(module.clone());
        }
    }
    best
}

/// The edges between siblings of one crate: (from, to) under a common
/// parent, each with one reference that makes it.
fn sibling_edges(src: &Path) -> BTreeMap<(ModulePath, ModulePath), String> {
    let known = modules(src);
    let mut edges = BTreeMap::new();
    for (from, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        for path in named_paths(&text) {
            let Some(to) = resolve(from, &path, &known) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // one is the other's ancestor (or itself)
            }
            let key = (from[..=common].to_vec(), to[..=common].to_vec());
            edges
                .entry(key)
                .or_insert_with(|| format!("{} names {path}", file.display()));
        }
    }
    edges
}

/// A circle in the graph, as the modules around it, if there is one.
fn find_circle(edges: &BTreeSet<(ModulePath, ModulePath)>) -> Option<Vec<ModulePath>> {
    fn visit(
        node: &ModulePath,
        edges: &BTreeSet<(ModulePath, ModulePath)>,
        on_path: &mut Vec<ModulePath>,
        done: &mut BTreeSet<ModulePath>,
    ) -> Option<Vec<ModulePath>> {
        if let Some(at) = on_path.iter().position(|n| n == node) {
            let mut circle = on_path[at..].to_vec();
            circle.push(node.clone());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        on_path.push(node.clone());
        for (_, to) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(circle) = visit(to, edges, on_path, done) {
                return Some(circle);
            }
        }
        on_path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for (from, _) in edges {
        if let Some(circle) = visit(from, edges, &mut Vec::new(), &mut done) {
            return Some(circle);
        }
    }
    None
}

fn name(module: &ModulePath) -> String {
    format!("crate::{}", module.join("::"))
}

#[test]
fn no_circle_between_sibling_modules() {
    let mut circles = Vec::new();
    for krate in ["dist", "installer", "xtask"] {
        let edges = sibling_edges(&project_root().join(krate).join("src"));
        println!("{krate}: {} edges between sibling modules", edges.len());
        for ((from, to), why) in &edges {
            println!("  {} -> {}   ({why})", name(from), name(to));
        }
        let graph: BTreeSet<_> = edges.keys().cloned().collect();
        if let Some(circle) = find_circle(&graph) {
            let around: Vec<String> = circle.iter().map(name).collect();
            let reasons: Vec<&String> = circle
                .windows(2)
                .map(|w| &edges[&(w[0].clone(), w[1].clone())])
                .collect();
            circles.push(format!(
                "{krate}: {}\n    {}",
                around.join(" -> "),
                reasons
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
    }
    assert!(
        circles.is_empty(),
        "modules in a circle:\n{}",
        circles.join("\n")
    );
}

/// The checker itself finds the circle that was in xtask before
/// `host_fs.rs`, and reads grouped and `super::` paths.
#[test]
fn the_checker_sees_grouped_paths_and_a_circle() {
    let paths = named_paths(
        "use crate::{a, b::{c, d::e}};\nfn f() { super::g::h(); crate::x::y::z() }\n\
         // crate::in_a_comment\n#[cfg(test)]\nmod tests { use crate::tested; }",
    );
    assert_eq!(paths, ["a", "b::c", "b::d::e", "x::y::z", "super::g::h"]);

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("sysroot")).unwrap();
    for (file, text) in [
        ("lib.rs", "//! root\npub mod sysroot;\npub mod libcxx;\n"),
        ("sysroot.rs", "use crate::libcxx::CXX;\n"),
        ("libcxx.rs", "use crate::sysroot::copy_tree;\n"),
        (
            "sysroot/musl_build.rs",
            "use super::Inputs;\nuse crate::libcxx;\n",
        ),
    ] {
        std::fs::write(src.join(file), text).unwrap();
    }
    let edges = sibling_edges(src);
    let s = |p: &[&str]| -> ModulePath { p.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        edges.keys().cloned().collect::<Vec<_>>(),
        [
            (s(&["libcxx"]), s(&["sysroot"])),
            (s(&["sysroot"]), s(&["libcxx"]))
        ]
    );
    let circle = find_circle(&edges.keys().cloned().collect()).unwrap();
    assert_eq!(circle.len(), 3, "{circle:?}");
}
