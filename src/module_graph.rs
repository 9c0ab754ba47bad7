//! Guard: the crate's module graph has no import cycle, and only the edge reads `settings`.
//!
//! Granularity: **file-level modules**. Each file under `src/` is one node (`src/ci/context.rs` is
//! `ci::context`; a `mod.rs` is its folder, `src/ci/mod.rs` is `ci`; `lib.rs` is the crate root and
//! `main.rs`, a separate crate, is left out). An edge A → B is any path in A (in `use` lines or
//! inline, tests included) that names B: `crate::…` and `super::…` paths, resolved to the deepest
//! file module they reach, and, in a file that declares child modules, paths that start with a
//! child's name. Paths that reach only the crate root (`crate::Error`) add no edge. Comments and
//! string literals are skipped. Edges between a folder's `mod.rs` and the modules inside that
//! folder are not counted: a child reading its parent's shared items (`super::Pipeline`) and the
//! parent re-exporting or dispatching to its children is the folder's own business; every other
//! pair of files counts. A cycle is any strongly connected component of more than one node.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/ci/context.rs` → `["ci", "context"]`; `src/ci/mod.rs` → `["ci"]`; `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match (parts.is_empty(), stem) {
        (true, "main") => return None,
        (true, "lib") => {}
        (_, "mod") => {}
        _ => parts.push(stem.to_string()),
    }
    Some(parts)
}

/// The text with comments, string and char literals blanked out (newlines kept).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'r'
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
            && !ident_byte_before(b, i)
        {
            // raw string r"…" or r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // a char literal ('x', '\n', '\u{..}'), not a lifetime
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // multi-byte char literal
                text[i + 1..]
                    .chars()
                    .next()
                    .map(|ch| i + 1 + ch.len_utf8())
                    .filter(|&e| b.get(e) == Some(&b'\''))
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses a path (with `{…}` groups) starting at `s`, pushing every full path it names.
fn parse_tree(s: &str, prefix: &[String], out: &mut Vec<Module>) -> usize {
    let mut segs = prefix.to_vec();
    let mut i = 0;
    let chars: Vec<char> = s.chars().collect();
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i < chars.len() && chars[i] == '{' {
            i += 1;
            loop {
                while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                    i += 1;
                }
                if i >= chars.len() || chars[i] == '}' {
                    i += 1;
                    break;
                }
                let rest: String = chars[i..].iter().collect();
                let used = parse_tree(&rest, &segs, out);
                i += used.max(1);
            }
            return i;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        let seg: String = chars[start..i].iter().collect();
        if seg != "self" {
            segs.push(seg);
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            continue;
        }
        break;
    }
    // skip `as name`
    out.push(segs);
    i
}

/// Every module path a file's code names, still relative (`crate`, `super`, or a child name first).
fn paths_in(code: &str, children: &BTreeSet<String>) -> Vec<Module> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    for (k, &(pos, c)) in chars.iter().enumerate() {
        if !is_ident(c) || (k > 0 && (is_ident(chars[k - 1].1) || chars[k - 1].1 == ':')) {
            continue;
        }
        let rest = &code[pos..];
        let word: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        if !rest[word.len()..].starts_with("::") {
            continue;
        }
        if word == "crate" || word == "super" || children.contains(&word) {
            parse_tree(rest, &[], &mut out);
        }
    }
    out
}

/// The deepest file module a path reaches, from `here` (the file's module).
fn resolve(path: &[String], here: &Module, modules: &BTreeSet<Module>) -> Option<Module> {
    let (mut base, rest): (Module, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (vec![], &path[1..]),
        Some("super") => {
            let supers = path.iter().take_while(|s| *s == "super").count();
            let rest = &path[supers..];
            // An inline module (`mod tests`) adds one `super`: try the file's view first, then one
            // fewer.
            let mut found = None;
            for n in [supers, supers.saturating_sub(1)] {
                if n == 0 {
                    continue;
                }
                let mut b = here.clone();
                for _ in 0..n {
                    b.pop();
                }
                let mut probe = b.clone();
                probe.extend(rest.iter().take(1).cloned());
                if modules.contains(&probe) {
                    found = Some(b);
                    break;
                }
            }
            match found {
                Some(b) => (b, rest),
                None => return None,
            }
        }
        Some(_) => (here.clone(), path),
        None => return None,
    };
    for seg in rest {
        let mut next = base.clone();
        next.push(seg.clone());
        if modules.contains(&next) {
            base = next;
        } else {
            break;
        }
    }
    (!base.is_empty()).then_some(base)
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    files: BTreeMap<Module, PathBuf>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
    let by_module: BTreeMap<Module, PathBuf> = files
        .iter()
        .filter_map(|f| Some((module_of(&src, f)?, f.clone())))
        .collect();
    let modules: BTreeSet<Module> = by_module.keys().cloned().collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (here, file) in &by_module {
        let code = code_only(&fs::read_to_string(file).expect("readable source"));
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|m| m.len() == here.len() + 1 && m.starts_with(here))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let entry = edges.entry(here.clone()).or_default();
        for path in paths_in(&code, &children) {
            if let Some(target) = resolve(&path, here, &modules)
                && !target.starts_with(here)
                && !here.starts_with(&target)
            {
                entry.insert(target);
            }
        }
    }
    Graph {
        edges,
        files: by_module,
    }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        next: usize,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_import_cycle_between_modules() {
    let g = graph();
    assert!(
        g.edges.len() > 50,
        "found too few modules: {}",
        g.edges.len()
    );
    let found: Vec<String> = cycles(&g.edges)
        .iter()
        .map(|c| {
            let names: Vec<String> = c.iter().map(name).collect();
            let mut lines = vec![format!("cycle among {}:", names.join(", "))];
            for a in c {
                for b in c {
                    if g.edges.get(a).is_some_and(|e| e.contains(b)) {
                        lines.push(format!("  {} → {}", name(a), name(b)));
                    }
                }
            }
            lines.join("\n")
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// Only the edge reads `settings`: `commands/`, `settings/` itself, `cli.rs` (and `main.rs`).
#[test]
fn only_the_edge_imports_settings() {
    let g = graph();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = vec!["settings".to_string()];
    let mut importers: Vec<String> = g
        .edges
        .iter()
        .filter(|(from, to)| {
            to.iter().any(|t| t.starts_with(&settings)) && !from.starts_with(&settings)
        })
        .map(|(from, _)| {
            g.files[from]
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|f| !f.starts_with("src/commands/") && f != "src/cli.rs")
        .collect();
    importers.sort();
    assert!(
        importers.is_empty(),
        "these files import crate::settings (allowed: src/commands/, src/settings/, src/cli.rs, \
         src/main.rs): {importers:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Module {
        s.split("::").map(String::from).collect()
    }

    #[test]
    fn use_trees_and_inline_paths_are_resolved() {
        let modules: BTreeSet<Module> = ["a", "a::b", "a::c", "d"].iter().map(|s| m(s)).collect();
        let code = code_only(
            "use crate::{a::b::{X, Y}, d};\n// crate::a::c::Z\nlet s = \"crate::a::c\"; super::c::f(); b::g();",
        );
        let children: BTreeSet<String> = ["b".to_string()].into();
        let found: BTreeSet<Module> = paths_in(&code, &children)
            .iter()
            .filter_map(|p| resolve(p, &m("a::c"), &modules))
            .collect();
        // `b::g` is relative to a::c, which has no child `b` in `modules`, so it stays at a::c.
        assert_eq!(found, [m("a::b"), m("d"), m("a::c")].into());
    }

    #[test]
    fn a_cycle_is_found() {
        let mut e: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        e.insert(m("a"), [m("b")].into());
        e.insert(m("b"), [m("a")].into());
        e.insert(m("c"), [m("a")].into());
        assert_eq!(cycles(&e), vec![vec![m("a"), m("b")]]);
    }
}
