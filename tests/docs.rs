//! The manual in `docs/` kept in sync with the binary: every verb and every
//! long flag that `flotilla --help` and `flotilla VERB --help` list is
//! documented, each verb in a section of its own in docs/verbs.md headed
//! `## flotilla VERB` that names each of its flags (the options of every verb,
//! those `flotilla --help` lists, once anywhere); no such section names a verb
//! that is gone; the README stays short and links every page of `docs/`; and
//! relative links in the README and `docs/` point at files and headings that
//! exist. Hidden subcommands are not in `--help` and so not checked. Needs no
//! test fleet: it only asks for help.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;

const README_MAX_LINES: usize = 200;

/// A verb as `--help` lists it: its path below `flotilla` (`["config",
/// "check"]`), its long flags, and whether it has verbs of its own.
#[derive(Debug)]
struct Verb {
    path: Vec<String>,
    flags: BTreeSet<String>,
    has_subcommands: bool,
}

impl Verb {
    fn name(&self) -> String {
        format!("flotilla {}", self.path.join(" "))
    }
}

struct Cli {
    /// The options `flotilla --help` lists: every verb takes them.
    global: BTreeSet<String>,
    verbs: Vec<Verb>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `flotilla PATH… --help`, with no user config in the way.
fn help(path: &[String]) -> String {
    let mut cmd = Command::cargo_bin("flotilla").expect("flotilla binary");
    cmd.env_remove("FLOTILLA_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-flotilla-test")
        .env("NO_COLOR", "1")
        .args(path)
        .arg("--help");
    let out = cmd.output().expect("run flotilla --help");
    assert!(
        out.status.success(),
        "`flotilla {} --help` failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The names under `Commands:`, without clap's own `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The long flags of the option lines (`  -a, --all  …`, `      --json  …`),
/// without `--help` and `--version`.
fn long_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in help.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if !(2..=8).contains(&indent) || !text.starts_with('-') {
            continue;
        }
        // A short form first: `-a, --all`.
        let text = match text.split_once(", ") {
            Some((short, rest)) if short.len() == 2 && !short.starts_with("--") => rest,
            _ => text,
        };
        let Some(rest) = text.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !name.is_empty() && name != "help" && name != "version" {
            flags.insert(format!("--{name}"));
        }
    }
    flags
}

fn walk(path: Vec<String>, verbs: &mut Vec<Verb>) {
    let text = help(&path);
    let subs = subcommands(&text);
    if !path.is_empty() {
        verbs.push(Verb {
            path: path.clone(),
            flags: long_flags(&text),
            has_subcommands: !subs.is_empty(),
        });
    }
    for sub in subs {
        let mut next = path.clone();
        next.push(sub);
        walk(next, verbs);
    }
}

fn cli() -> &'static Cli {
    static CLI: OnceLock<Cli> = OnceLock::new();
    CLI.get_or_init(|| {
        let global = long_flags(&help(&[]));
        let mut verbs = Vec::new();
        walk(Vec::new(), &mut verbs);
        assert!(
            !global.is_empty() && !verbs.is_empty(),
            "could not read verbs and flags from `flotilla --help`: has clap's help format changed?"
        );
        Cli { global, verbs }
    })
}

/// Every `docs/*.md`, by file name, sorted.
fn docs() -> BTreeMap<String, String> {
    let dir = root().join("docs");
    let mut pages = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("read docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read a docs page");
            pages.insert(name, text);
        }
    }
    assert!(!pages.is_empty(), "no docs/*.md");
    pages
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// `needle` in `text` as a whole word: `--exec` is not in `--exec-jobs`.
fn mentions(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The lines of a Markdown text outside fenced code blocks, numbered from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The `## flotilla VERB` sections of a page: the verb path and the text up
/// to the next heading of level 1 or 2.
fn verb_sections(text: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (_, line) in prose(text) {
        if line.starts_with("# ") || line.starts_with("## ") {
            sections.extend(current.take());
            let heading = line.trim_start_matches('#').replace('`', "");
            if let Some(path) = heading.trim().strip_prefix("flotilla ") {
                current = Some((path.trim().to_owned(), String::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter(|(_, l)| l.starts_with('#'))
        .map(|(_, l)| slug(l.trim_start_matches('#')))
        .collect()
}

/// Relative link targets `](target)` outside code blocks, with their line.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                found.push((n, target.to_owned()));
            }
            rest = &rest[end..];
        }
    }
    found
}

#[test]
fn every_verb_and_flag_in_help_is_in_docs() {
    let cli = cli();
    let all: String = docs().into_values().collect::<Vec<_>>().join("\n");
    let mut missing = Vec::new();
    for verb in &cli.verbs {
        if !mentions(&all, &verb.name()) {
            missing.push(format!("verb `{}`", verb.name()));
        }
    }
    let mut flags: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for flag in &cli.global {
        flags.entry(flag).or_default().push("flotilla".to_owned());
    }
    for verb in &cli.verbs {
        for flag in verb.flags.difference(&cli.global) {
            flags.entry(flag).or_default().push(verb.name());
        }
    }
    for (flag, verbs) in flags {
        if !mentions(&all, flag) {
            missing.push(format!("flag `{flag}` (of {})", verbs.join(", ")));
        }
    }
    assert!(
        missing.is_empty(),
        "listed by --help but documented nowhere in docs/*.md:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn verbs_md_has_a_section_per_verb_naming_its_flags() {
    let cli = cli();
    let pages = docs();
    let verbs_md = pages.get("verbs.md").expect("docs/verbs.md");
    let sections = verb_sections(verbs_md);
    let mut problems = Vec::new();
    for verb in cli.verbs.iter().filter(|v| !v.has_subcommands) {
        let path = verb.path.join(" ");
        let Some((_, body)) = sections.iter().find(|(p, _)| *p == path) else {
            problems.push(format!("no section `## {}`", verb.name()));
            continue;
        };
        for flag in verb.flags.difference(&cli.global) {
            if !mentions(body, flag) {
                problems.push(format!(
                    "section `## {}` does not name its flag `{flag}`",
                    verb.name()
                ));
            }
        }
    }
    for (path, _) in &sections {
        if !cli.verbs.iter().any(|v| v.path.join(" ") == *path) {
            problems.push(format!(
                "section `## flotilla {path}` documents a verb --help does not list"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/verbs.md out of sync with --help:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn readme_is_short_and_links_every_docs_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    let targets: BTreeSet<String> = links(&readme)
        .into_iter()
        .map(|(_, t)| t.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let mut problems = Vec::new();
    if lines > README_MAX_LINES {
        problems.push(format!(
            "README.md has {lines} lines, more than {README_MAX_LINES}: move detail to docs/"
        ));
    }
    for page in docs().keys() {
        if !targets.contains(&format!("docs/{page}")) {
            problems.push(format!("README.md does not link docs/{page}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn relative_links_in_readme_and_docs_resolve() {
    let root = root();
    let mut files: Vec<(PathBuf, String)> = vec![(
        root.join("README.md"),
        std::fs::read_to_string(root.join("README.md")).expect("README.md"),
    )];
    for (name, text) in docs() {
        files.push((root.join("docs").join(name), text));
    }
    let mut broken = Vec::new();
    for (file, text) in &files {
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, target) in links(text) {
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest: PathBuf = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(Path::new(".")).join(path)
            };
            if !dest.exists() {
                broken.push(format!("{shown}:{line}: `{target}`: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if dest.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&dest).expect("read a linked page");
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{shown}:{line}: `{target}`: no such heading"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}
