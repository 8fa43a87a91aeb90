//! What a reviewer would check by eye, enforced: every Rust module says
//! what it is for in a `//!` comment, and no file of ours carries trailing
//! whitespace. (Patches are exempt: their context lines are upstream's;
//! so are the benchmark runs' recorded output under docs/bench/.)

use std::path::{Path, PathBuf};

use xtask::project_root;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') && name != ".ci" && name != ".cargo" {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn project_files() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = Vec::new();
    for dir in [
        "xtask",
        "installer",
        "dist",
        "sysroots",
        "ci",
        ".ci",
        ".cargo",
    ] {
        files_under(&root.join(dir), &mut files);
    }
    for file in ["README.md", "ARCHITECTURE.md", "Cargo.toml"] {
        files.push(root.join(file));
    }
    // The guide's chapters; docs/bench/ holds runs' recorded output as the
    // bench wrote it.
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_rust_module_starts_with_a_doc_comment() {
    let missing: Vec<String> = project_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            !text.trim_start().starts_with("//!") && !p.ends_with("build.rs")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! comment: {missing:#?}"
    );
}

#[test]
fn no_trailing_whitespace() {
    let mut offenders = Vec::new();
    for path in project_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                offenders.push(format!("{}:{}", path.display(), n + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "trailing whitespace: {offenders:#?}");
}
