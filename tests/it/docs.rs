//! The documents name only what the repository has: README.md, docs/*.md and
//! tests/rules/blind/README.md. A relative link or a backticked repository path must exist, no
//! document sends the reader to a design or log-format document the repository does not hold,
//! no document cites an issue by number (the reader cannot follow it), and the README stays
//! short enough to read in five minutes. The sources, scripts, sample events, rule files, their
//! test corpus and the catalog made from them (RULES.md) are held to the same two rules: no
//! design, log-format or seed document the repository lacks, no issue number.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::support::root;

/// The README's budget: about 25 KB, with a little room for an edit.
const README_MAX_BYTES: usize = 25_600;

/// Names that went stale: documents and folders the repository does not have.
const MISSING: &[&str] = &["DESIGN.md", "LOG-FORMATS.md", "seeds/", "src/sns.rs", "tests/events.rs"];

/// What a source file must not name: documents and folders that live outside the repository.
const MISSING_FROM_SOURCES: &[&str] = &["DESIGN.md", "LOG-FORMATS.md", "seeds/0"];

/// Folders whose sources are read for [`MISSING_FROM_SOURCES`] and issue numbers, with the
/// extensions read in each (the sample events' sources are log lines with `# ` notes).
const SOURCE_FOLDERS: &[(&str, &[&str])] = &[
    ("src", &["rs"]),
    ("rules", &["toml"]),
    ("tests", &["rs", "py", "sh", "toml"]),
    ("benches", &["rs"]),
    ("scripts", &["rs", "py", "sh", "toml"]),
    ("events/src", &["log"]),
];

/// Single files read the same way.
const SOURCE_FILES: &[&str] = &["Makefile", "events/README.md", "RULES.md"];

/// Left out of the source check: this file, because it names those documents and issue numbers
/// as the checks' own data.
const NOT_READ: &[&str] = &["tests/it/docs.rs"];

/// An issue cited by number in a source: `issue 13`, `Issue 24:`, `issues 23 and 24`, `issue #4`.
const SOURCE_ISSUE: &str = r"(?i)\bissues?\s+#?\d";

/// Top-level entries that are build output or local tools, not the repository's files.
const NOT_IN_REPOSITORY: &[&str] = &["target", ".venv", ".git"];

/// Every document the checks read, relative to the root.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    docs.insert(0, PathBuf::from("README.md"));
    docs.push(PathBuf::from("tests/rules/blind/README.md"));
    docs
}

/// Every source file [`SOURCE_FOLDERS`] and [`SOURCE_FILES`] name, relative to the root and
/// written with `/`, less [`NOT_READ`]; hidden folders and caches are not walked.
fn sources() -> Vec<String> {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !["target", "__pycache__", "node_modules"].contains(&name.as_str()) {
                    walk(&path, extensions, out);
                }
            } else if path.extension().is_some_and(|ext| extensions.iter().any(|e| ext == *e)) {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    for (folder, extensions) in SOURCE_FOLDERS {
        walk(&root().join(folder), extensions, &mut paths);
    }
    paths.extend(SOURCE_FILES.iter().map(|file| root().join(file)));
    let mut sources: Vec<String> = paths
        .iter()
        .map(|path| {
            path.strip_prefix(root())
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .filter(|path| !NOT_READ.iter().any(|left| path == left || path.starts_with(&format!("{left}/"))))
        .collect();
    sources.sort();
    sources
}

fn read(document: &Path) -> String {
    std::fs::read_to_string(root().join(document)).unwrap_or_else(|e| panic!("{}: {e}", document.display()))
}

/// The text outside fenced code blocks (examples quote log lines and output, not paths to follow).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().trim_start_matches('>').trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Whether one path segment matches a pattern segment with `*` wildcards.
fn segment_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `pattern` (relative to `base`, `*` allowed within a segment) names something that exists.
fn exists(base: &Path, pattern: &str) -> bool {
    let mut candidates = vec![base.to_path_buf()];
    for segment in pattern.trim_end_matches('/').split('/').filter(|s| !s.is_empty() && *s != ".") {
        candidates = candidates
            .into_iter()
            .flat_map(|dir| -> Vec<PathBuf> {
                if segment == ".." {
                    return dir.parent().map(Path::to_path_buf).into_iter().collect();
                }
                if !segment.contains('*') {
                    let path = dir.join(segment);
                    return if path.exists() { vec![path] } else { vec![] };
                }
                std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .filter_map(Result::ok)
                            .filter(|e| segment_matches(segment, &e.file_name().to_string_lossy()))
                            .map(|e| e.path())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
    }
    !candidates.is_empty()
}

/// A backticked span as a repository path, placeholders (`<suite>`, `NAME`, `batch-N`) as `*`;
/// `None` when the span is not a path into the repository.
fn repository_path(span: &str, top_level: &[String]) -> Option<String> {
    let placeholder = Regex::new(r"<[^>]*>|\bNAME\b|\bN\b").unwrap();
    let path = placeholder.replace_all(span.trim_start_matches("./"), "*").into_owned();
    let first = path.split('/').next().unwrap_or_default();
    let is_path = path.contains('/') && top_level.iter().any(|entry| entry == first);
    let is_document = !path.contains('/') && path.ends_with(".md");
    (is_path || is_document).then_some(path)
}

fn read_at(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as `-`.
fn anchors(text: &str) -> std::collections::BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|line| line.strip_prefix('#').map(|rest| rest.trim_start_matches('#').trim()))
        .map(|heading| {
            heading
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_is_short() {
    let size = read(Path::new("README.md")).len();
    assert!(size <= README_MAX_BYTES, "README.md is {size} bytes, over {README_MAX_BYTES}: move detail to docs/");
}

#[test]
fn every_link_and_backticked_path_names_a_file_the_repository_has() {
    let mut top_level: Vec<String> = std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !NOT_IN_REPOSITORY.contains(&name.as_str()))
        .collect();
    top_level.sort();
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let span = Regex::new(r"`([^`\s]+)`").unwrap();
    let mut missing = Vec::new();
    for document in documents() {
        let text = prose(&read(&document));
        let dir = root().join(document.parent().unwrap_or(Path::new("")));
        for target in link.captures_iter(&text).map(|c| c[1].to_owned()) {
            if ["http://", "https://", "mailto:", "#"].iter().any(|p| target.starts_with(p)) {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            if !exists(&dir, file) {
                missing.push(format!("{}: link ({target})", document.display()));
            } else if !anchor.is_empty()
                && file.ends_with(".md")
                && !anchors(&read_at(&dir.join(file))).contains(anchor)
            {
                missing.push(format!("{}: link to a heading that is not there ({target})", document.display()));
            }
        }
        for path in span.captures_iter(&text).filter_map(|c| repository_path(&c[1], &top_level)) {
            // Paths are written from the root; a bare document name may also sit beside the page.
            let beside = path.ends_with(".md") && exists(&dir, &path);
            if !beside && !exists(&root(), &path) {
                missing.push(format!("{}: `{path}`", document.display()));
            }
        }
    }
    assert!(missing.is_empty(), "documents name files the repository lacks:\n{}", missing.join("\n"));
}

#[test]
fn no_document_names_a_missing_document_or_an_issue_number() {
    let issue = Regex::new(r"(?i)\bissues?\s+#?\d+|(?:^|[^\w&/#])#\d+\b").unwrap();
    let mut found = Vec::new();
    for document in documents() {
        let text = read(&document);
        for (number, line) in text.lines().enumerate() {
            for name in MISSING.iter().filter(|name| line.contains(*name)) {
                found.push(format!("{}:{}: names {name}", document.display(), number + 1));
            }
            if let Some(m) = issue.find(line) {
                found.push(format!("{}:{}: cites an issue ({})", document.display(), number + 1, m.as_str().trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_source_names_a_missing_document_or_an_issue_number() {
    let issue = Regex::new(SOURCE_ISSUE).unwrap();
    let mut found = Vec::new();
    for source in sources() {
        let text = read(Path::new(&source));
        for (number, line) in text.lines().enumerate() {
            for name in MISSING_FROM_SOURCES.iter().filter(|name| line.contains(*name)) {
                found.push(format!("{source}:{}: names {name}", number + 1));
            }
            if let Some(m) = issue.find(line) {
                found.push(format!("{source}:{}: cites an issue ({})", number + 1, m.as_str().trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "sources name what a reader of the repository cannot follow; cite the public source instead \
         (an AWS page, a public issue as owner/repo#N, a runtime's file), the repository's own docs/ \
         page, or state the fact:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let top_level = vec!["src".to_owned(), "tests".to_owned()];
    assert_eq!(repository_path("src/aws/", &top_level).as_deref(), Some("src/aws/"));
    assert_eq!(repository_path("tests/it/<suite>.rs", &top_level).as_deref(), Some("tests/it/*.rs"));
    assert_eq!(repository_path("/aws/lambda/orders-api", &top_level), None);
    assert_eq!(repository_path("DESIGN.md", &top_level).as_deref(), Some("DESIGN.md"));
    assert!(exists(&root(), "src/aws/sns/mod.rs") && exists(&root(), "tests/it/*.rs"));
    assert!(exists(&root(), "tests/rules/blind/batch-*.toml"));
    assert!(!exists(&root(), "src/sns.rs") && !exists(&root(), "DESIGN.md"));
    assert!(segment_matches("oom-report.*.expected", "oom-report.email.expected"));
    assert!(anchors("## One message per problem, and mutes\n").contains("one-message-per-problem-and-mutes"));
    assert!(!segment_matches("batch-*.toml", "batch-1.json"));
    let issue = Regex::new(r"(?i)\bissues?\s+#?\d+|(?:^|[^\w&/#])#\d+\b").unwrap();
    for cited in ["the storm of issue 10", "see #23", "(#7)", "Issue #4"] {
        assert!(issue.is_match(cited), "{cited}");
    }
    for plain in ["#logsV2:log-groups", "&#39;", "a#1b", "configuration.html#memory-config"] {
        assert!(!issue.is_match(plain), "{plain}");
    }
    let source_issue = Regex::new(SOURCE_ISSUE).unwrap();
    for cited in
        ["/// Issue 13: input", "(issues 13 and 24)", "blind batch 2 of issue 26", "issue #4", "Issue 10's storm"]
    {
        assert!(source_issue.is_match(cited), "{cited}");
    }
    for plain in ["DataDog/datadog-lambda-extension#1237", "like an issue list", "tissue 3", "issues: 4"] {
        assert!(!source_issue.is_match(plain), "{plain}");
    }
    let sources = sources();
    for file in [
        "src/lib.rs",
        "tests/redaction/corpus.toml",
        "tests/template/test_template.py",
        "scripts/make-events.sh",
        "rules/lambda-platform.toml",
        "tests/rules/lambda-platform.toml",
        "tests/rules/real/memory.toml",
        "tests/rules/blind/batch-1.toml",
        "RULES.md",
    ] {
        assert!(sources.iter().any(|s| s == file), "{file} is not read");
    }
    for file in ["benches/", "events/src/", "Makefile", "events/README.md"] {
        assert!(sources.iter().any(|s| s.starts_with(file)), "{file} is not read");
    }
    assert!(!sources.iter().any(|s| s == "tests/it/docs.rs"), "tests/it/docs.rs is read");
}
