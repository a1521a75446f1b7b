//! The import rule, enforced: every module imports only modules below it,
//! and inside the larger modules no two parts import each other (directly
//! or around a loop). One crate with a test rather than a workspace of
//! crates: the layers share one Cargo.lock and build, and the rule reads as
//! one table here. What counts is a path naming a module (`crate::ops::…`,
//! `super::engine::…`), in test code too for the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Low to high: a module may import those before it, never those after.
/// `logs` and `private` are pure ground (text, files); `cli` is the entry
/// point and may start the TUI, never the other way round.
const LAYERS: [&[&str]; 8] = [
    &["glob", "human", "logs", "private", "quote", "terminal"],
    &["redact"],
    &["config"],
    &["transport"],
    &["fleet"],
    &["ops"],
    &["tui"],
    &["cli"],
];

/// Directories whose parts must not import each other in a loop.
const NO_LOOPS: [&str; 11] = [
    "src/cli",
    "src/config",
    "src/fleet",
    "src/ops",
    "src/ops/alerts",
    "src/ops/deploy",
    "src/ops/deploy/run",
    "src/ops/triage",
    "src/transport",
    "src/tui",
    "src/tui/state",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Lower-case names that follow `prefix` in `text` (`crate::` → `ops`).
fn after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c) && c != ':');
        let tail = &rest[i + prefix.len()..];
        let name: String = tail.chars().take_while(|c| is_ident(*c)).collect();
        if before_ok && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            found.insert(name);
        }
        rest = tail;
    }
    found
}

/// The names a `prefix{a, b::c}` group brings in (`a`, `b`).
fn grouped(text: &str, prefix: &str) -> BTreeSet<String> {
    let open = format!("{prefix}{{");
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c) && c != ':');
        let tail = &rest[i + open.len()..];
        let Some(end) = tail.find('}') else { break };
        if before_ok {
            for item in tail[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
                if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                    found.insert(name);
                }
            }
        }
        rest = &tail[end..];
    }
    found
}

/// The code before the file's `#[cfg(test)] mod tests`, if it has one.
fn without_tests(text: &str) -> &str {
    let mut at = 0;
    while let Some(i) = text[at..].find("#[cfg(test)]") {
        let start = at + i;
        let next = text[start + "#[cfg(test)]".len()..].trim_start();
        if next.starts_with("mod tests") {
            return &text[..start];
        }
        at = start + 1;
    }
    text
}

fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f == "tests.rs" || f.ends_with("_tests.rs") || f == "testutil.rs")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every import of a higher layer: `src/FILE: a -> b`.
fn upward(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root.join("src")).unwrap_or(&f);
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let Some(own) = rank(module) else {
            bad.push(format!(
                "src/{}: module {module} is in no layer",
                rel.display()
            ));
            continue;
        };
        for target in after(&read(&f), "crate::") {
            match rank(&target) {
                Some(r) if r < own || target == module => {}
                Some(_) => bad.push(format!("src/{}: {module} -> {target}", rel.display())),
                None => bad.push(format!("src/{}: {target} is in no layer", rel.display())),
            }
        }
    }
    bad.sort();
    bad
}

/// Each part of `dir` (a file or a folder below it) → the parts it imports,
/// test code left out.
fn parts_graph(root: &Path, dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let base = root.join(dir);
    let module_path = format!(
        "crate::{}::",
        dir.trim_start_matches("src/").replace('/', "::")
    );
    let parts: BTreeSet<String> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if p.is_dir() && p.join("mod.rs").exists()
                || p.is_dir() && base.join(format!("{name}.rs")).exists()
            {
                Some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|n| *n != "mod" && !n.ends_with("tests") && *n != "testutil")
                    .map(str::to_owned)
            }
        })
        .collect();
    let mut files = Vec::new();
    rust_files(&base, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&base).unwrap_or(&f).to_path_buf();
        if rel == Path::new("mod.rs") || is_test_file(&rel) {
            continue;
        }
        let comps: Vec<String> = rel
            .components()
            .filter_map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect();
        let part = comps[0].trim_end_matches(".rs").to_owned();
        if !parts.contains(&part) {
            continue;
        }
        // How many `super::` lead from this file back to `dir`.
        let file = comps.last().map(String::as_str).unwrap_or_default();
        let depth = comps.len() - 1 + usize::from(file != "mod.rs");
        let text = read(&f);
        let code = without_tests(&text);
        let up = "super::".repeat(depth);
        let mut refs = after(code, &module_path);
        refs.extend(after(code, &up));
        refs.extend(grouped(code, &up));
        let entry = graph.entry(part.clone()).or_default();
        entry.extend(refs.into_iter().filter(|r| *r != part && parts.contains(r)));
    }
    graph
}

/// An edge `a -> b` where `b` leads back to `a`, if any.
fn a_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    for (a, outs) in graph {
        for b in outs {
            // Depth-first from b, keeping the path, until a.
            let mut stack = vec![(b.clone(), vec![a.clone(), b.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((x, path)) = stack.pop() {
                if x == *a {
                    return Some(path);
                }
                if !seen.insert(x.clone()) {
                    continue;
                }
                for y in graph.get(&x).into_iter().flatten() {
                    let mut p = path.clone();
                    p.push(y.clone());
                    stack.push((y.clone(), p));
                }
            }
        }
    }
    None
}

#[test]
fn every_module_imports_only_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = upward(root);
    assert!(
        bad.is_empty(),
        "imports that point up (layers, low to high: {LAYERS:?}):\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_module_has_an_import_loop_among_its_parts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in NO_LOOPS {
        let graph = parts_graph(root, dir);
        assert!(
            graph.len() > 1,
            "{dir}: no parts found: the rule checks nothing"
        );
        if let Some(path) = a_loop(&graph) {
            panic!("{dir}: an import loop: {}", path.join(" -> "));
        }
    }
}

#[test]
fn the_reader_sees_the_imports_that_matter() {
    let code = "use crate::ops::deploy::engine::Engine;\nuse super::{event::Step, kept, Run};\n\
                let x = super::super::plan::Job::Keep; // fn my_crate::tui::x\n\
                #[cfg(test)]\nmod tests { use super::fake; }";
    assert_eq!(
        after(code, "crate::"),
        BTreeSet::from(["ops".to_owned()]),
        "my_crate:: is not crate::"
    );
    assert_eq!(
        grouped(code, "super::"),
        BTreeSet::from(["event".to_owned(), "kept".to_owned()])
    );
    assert!(after(code, "super::super::").contains("plan"));
    assert!(!after(without_tests(code), "super::").contains("fake"));
    let looped = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(
        a_loop(&looped),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let mut straight = looped;
    straight.remove("c");
    assert_eq!(a_loop(&straight), None);
    assert_eq!(rank("tui").zip(rank("cli")).map(|(t, c)| t < c), Some(true));
}
