//! Guard: the repository stands alone. Comments and docs cite public sources or the repository's
//! own `docs/`, never files outside it (see docs/registries.md). This test fails on any file in
//! `src/`, `tests/` or `docs/` that mentions the old shared folder or cites the old outside
//! reference by section sign, and names the file and line.

use std::fs;
use std::path::{Path, PathBuf};

/// The forbidden texts, written in two halves so that this file does not match itself.
const FORBIDDEN: [&str; 5] = [
    concat!("..", "/shared"),
    concat!("registries.md ", "§"),
    concat!("(DESIGN", ".md"),
    concat!("ci-con", "ventions.md"),
    concat!("style", ".md"),
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_citation_leaves_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "docs"] {
        files_under(&root.join(dir), &mut files);
    }
    assert!(!files.is_empty(), "no files found under {}", root.display());
    let mut found = Vec::new();
    for path in &files {
        // Binary fixtures are not text and cannot cite anything.
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            if FORBIDDEN.iter().any(|f| line.contains(f)) {
                let shown = path.strip_prefix(root).unwrap_or(path);
                found.push(format!(
                    "{}:{}: {}",
                    shown.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite a public source or docs/registries.md instead of files outside the repository:\n{}",
        found.join("\n")
    );
}
