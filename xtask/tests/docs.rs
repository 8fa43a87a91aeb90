//! The user guide (`docs/`, an mdBook) builds, and no link in it or in
//! README.md and ARCHITECTURE.md leads nowhere: every relative link and
//! every anchor resolves, and every link into the project's own GitHub
//! repository names a file or directory that exists. Nothing here needs the
//! network. Also: every `FASTMUSL_*` variable the code reads is documented
//! in the guide's configuration chapter. (That every `fastmusl` command
//! shown parses is checked where the CLI is defined, `installer/src/main.rs`.)

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use xtask::project_root;

/// Links into the repository, checked against the checkout.
const REPOSITORY: &str = "https://github.com/fastmusl/fastmusl/";

/// `mdbook` from PATH, else where ci/install-deps.sh installs it.
fn mdbook() -> PathBuf {
    let installed = project_root().join("target/ci-tools/bin/mdbook");
    if installed.is_file() {
        return installed;
    }
    PathBuf::from("mdbook")
}

/// Builds the book into a directory of its own; its path.
fn build_book(dest: &Path) -> PathBuf {
    let out = Command::new(mdbook())
        .arg("build")
        .arg(project_root().join("docs"))
        .arg("--dest-dir")
        .arg(dest)
        .output()
        .unwrap_or_else(|e| panic!("running mdbook ({e}): ci/install-deps.sh installs it"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mdbook build failed:\n{log}");
    // mdBook reports a missing chapter or a broken include as a warning or
    // error line and may still succeed.
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(complaints.is_empty(), "mdbook complained:\n{log}");
    dest.to_path_buf()
}

fn files_with_extension(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_with_extension(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The values of `attr="…"` in an HTML page.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The ids an HTML page defines (anchors a link may name).
fn ids(html: &str) -> BTreeSet<String> {
    attribute_values(html, "id")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// What is wrong with a link into the repository, if anything.
fn check_repository_link(url: &str) -> Option<String> {
    let rest = url.strip_prefix(REPOSITORY)?;
    let path = rest
        .strip_prefix("blob/main/")
        .or_else(|| rest.strip_prefix("tree/main/"));
    let Some(path) = path else {
        // releases/…, issues, the repository itself: not files.
        return None;
    };
    let path = path.split('#').next().unwrap_or(path);
    (!project_root().join(path).exists()).then(|| format!("{url}: no {path} in the checkout"))
}

/// Broken links in the built book: relative targets that do not exist,
/// anchors no page defines, repository files that do not exist.
fn broken_links_in_book(book: &Path) -> Vec<String> {
    let mut pages = Vec::new();
    files_with_extension(book, "html", &mut pages);
    let mut id_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut ids_of = |page: &Path| -> BTreeSet<String> {
        id_cache
            .entry(page.to_path_buf())
            .or_insert_with(|| ids(&std::fs::read_to_string(page).unwrap_or_default()))
            .clone()
    };
    let mut broken = Vec::new();
    // 404.html links from the server's root, wherever the book is served.
    pages.retain(|p| !p.ends_with("404.html"));
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        let name = page.strip_prefix(book).unwrap().display().to_string();
        let mut targets = attribute_values(&html, "href");
        targets.extend(attribute_values(&html, "src"));
        for target in targets {
            if target.starts_with(REPOSITORY) {
                broken.extend(check_repository_link(target).map(|e| format!("{name}: {e}")));
                continue;
            }
            if target.contains("://")
                || target.starts_with("mailto:")
                || target.starts_with("javascript:")
                || target.starts_with("data:")
                || target.is_empty()
            {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target, None),
            };
            let path = path.split('?').next().unwrap_or(path);
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            let file = if file.is_dir() {
                file.join("index.html")
            } else {
                file
            };
            if !file.exists() {
                broken.push(format!("{name}: {target}: no such file"));
                continue;
            }
            let is_page = file.extension().is_some_and(|e| e == "html");
            if let Some(anchor) = anchor.filter(|a| !a.is_empty() && is_page)
                && !ids_of(&file).contains(anchor)
            {
                broken.push(format!("{name}: {target}: no #{anchor} there"));
            }
        }
    }
    broken
}

/// A heading's anchor as GitHub and mdBook make it: lowercase, spaces to
/// hyphens, other punctuation dropped.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The `[text](target)` targets of a Markdown file, outside code blocks.
fn markdown_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                links.push(rest[..end].to_owned());
            }
        }
    }
    links
}

/// Broken links in a Markdown file of the repository (README.md,
/// ARCHITECTURE.md): a link into the guide must name a chapter's anchor
/// as the built book has it.
fn broken_links_in_markdown(file: &Path, book: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let own_anchors: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| heading_anchor(h.trim_start_matches('#')))
        .collect();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut broken = Vec::new();
    for target in markdown_links(&text) {
        if target.starts_with(REPOSITORY) {
            broken.extend(check_repository_link(&target).map(|e| format!("{name}: {e}")));
            continue;
        }
        if target.contains("://") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        if path.is_empty() {
            if let Some(anchor) = anchor.filter(|a| !own_anchors.contains(*a)) {
                broken.push(format!("{name}: #{anchor}: no such heading"));
            }
            continue;
        }
        let linked = file.parent().unwrap().join(path);
        if !linked.exists() {
            broken.push(format!("{name}: {target}: no such file"));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        let chapter = linked
            .strip_prefix(project_root().join("docs"))
            .ok()
            .map(|p| book.join(p).with_extension("html"));
        match chapter {
            Some(page)
                if ids(&std::fs::read_to_string(&page).unwrap_or_default()).contains(anchor) => {}
            Some(_) => broken.push(format!("{name}: {target}: no #{anchor} in the guide")),
            None => broken.push(format!(
                "{name}: {target}: anchors are checked in docs/ only"
            )),
        }
    }
    broken
}

#[test]
fn the_guide_builds_and_no_link_is_broken() {
    let dest = tempfile::tempdir().unwrap();
    let book = build_book(&dest.path().join("book"));
    assert!(book.join("index.html").is_file());
    let mut broken = broken_links_in_book(&book);
    for file in ["README.md", "ARCHITECTURE.md"] {
        broken.extend(broken_links_in_markdown(&project_root().join(file), &book));
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The checker finds what it is for: a missing file, a missing anchor, a
/// repository path that does not exist.
#[test]
fn the_link_checker_sees_broken_links() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path();
    std::fs::write(
        book.join("a.html"),
        format!(
            r##"<a href="b.html#here">ok</a> <a href="b.html#gone">x</a> <a href="c.html">x</a>
               <a href="#top">x</a> <h1 id="own">x</h1> <a href="#own">ok</a>
               <a href="{REPOSITORY}blob/main/Cargo.toml">ok</a>
               <a href="{REPOSITORY}blob/main/no/such.rs">x</a>"##
        ),
    )
    .unwrap();
    std::fs::write(book.join("b.html"), r#"<h2 id="here">x</h2>"#).unwrap();
    let broken = broken_links_in_book(book);
    assert_eq!(broken.len(), 4, "{broken:#?}");
    assert_eq!(
        heading_anchor(" Flavors: default and secure"),
        "flavors-default-and-secure"
    );
    assert_eq!(
        heading_anchor("String functions (run of 2026-11-27, sysroot revision 4)"),
        "string-functions-run-of-2026-11-27-sysroot-revision-4"
    );
}

/// The `FASTMUSL_*` variables the code reads: the names in string literals
/// of the Rust sources and in the wrappers and install.sh.
fn variables_read() -> BTreeSet<String> {
    let root = project_root();
    let mut files = Vec::new();
    for dir in ["installer/src", "dist/src", "xtask/src", "xtask/tests"] {
        files_with_extension(&root.join(dir), "rs", &mut files);
    }
    files_with_extension(&root.join("xtask/src/wrappers"), "sh", &mut files);
    files.push(root.join("xtask/src/install.sh"));
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let is_rust = file.extension().is_some_and(|e| e == "rs");
        let marker = if is_rust { "\"FASTMUSL_" } else { "FASTMUSL_" };
        for (at, _) in text.match_indices(marker) {
            let start = at + marker.len() - "FASTMUSL_".len();
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let name = name.trim_end_matches('_');
            if name != "FASTMUSL" {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_fastmusl_variable_is_documented() {
    let guide = std::fs::read_to_string(project_root().join("docs/configuration.md")).unwrap();
    let read = variables_read();
    assert!(
        read.contains("FASTMUSL_HOME") && read.len() > 10,
        "{read:?}"
    );
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !guide.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code, not in docs/configuration.md: {missing:?}"
    );
}

/// The source of every message fastmusl prints: Rust string literals with
/// their `\`-continued lines joined, and the wrappers' shell.
fn message_sources() -> String {
    let root = project_root();
    let mut files = Vec::new();
    for dir in ["installer/src", "dist/src"] {
        files_with_extension(&root.join(dir), "rs", &mut files);
    }
    files_with_extension(&root.join("xtask/src/wrappers"), "sh", &mut files);
    let mut text = String::new();
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        let mut lines = source.lines();
        while let Some(line) = lines.next() {
            let mut line = line.to_owned();
            while let Some(head) = line.strip_suffix('\\') {
                let next = lines.next().unwrap_or_default().trim_start();
                line = format!("{head}{next}");
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

#[test]
fn every_error_the_troubleshooting_chapter_quotes_is_printed() {
    let chapter = std::fs::read_to_string(project_root().join("docs/troubleshooting.md")).unwrap();
    let sources = message_sources();
    let mut quoted = 0;
    let mut missing = Vec::new();
    for line in chapter.lines().filter_map(|l| l.strip_prefix("> ")) {
        quoted += 1;
        for fragment in line.split('…').map(str::trim).filter(|f| f.len() >= 8) {
            if !sources.contains(fragment) {
                missing.push(format!("{fragment:?} (from: {line})"));
            }
        }
    }
    assert!(quoted >= 20, "only {quoted} messages quoted");
    assert!(
        missing.is_empty(),
        "quoted in docs/troubleshooting.md, printed nowhere:\n{}",
        missing.join("\n")
    );
}
