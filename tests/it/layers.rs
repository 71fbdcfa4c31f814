//! The stages of `src/` use only the stages before them: the order of `src/lib.rs` (model,
//! redact, ingest, rules, detect, report, enrich, deliver, aws, then config, analysis and handler,
//! the composition root). Every `crate::` path outside comments, in every file of a stage, must
//! name that stage or one before it: an arrow back up fails here, with the file and line.

use std::path::Path;

/// The stages of `src/lib.rs`, bottom first.
const STAGES: &[&str] = &[
    "model", "redact", "ingest", "rules", "detect", "report", "enrich", "deliver", "aws", "config", "analysis",
    "handler",
];

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_stage_uses_only_the_stages_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> =
        lib.lines().filter_map(|l| l.trim().strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';'))).collect();
    assert_eq!(declared, STAGES, "src/lib.rs lists the stages in this order");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let mut wrong = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let stage = first.trim_end_matches(".rs");
        let Some(position) = STAGES.iter().position(|s| *s == stage) else { continue };
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (at, _) in code.match_indices("crate::") {
                let target: String =
                    code[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if let Some(to) = STAGES.iter().position(|s| *s == target)
                    && to > position
                {
                    wrong.push(format!(
                        "{}:{}: {stage} uses {target}: {}",
                        relative.display(),
                        number + 1,
                        code.trim()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "arrows back up the stages:\n{}", wrong.join("\n"));
}

/// The modules of `src/detect/`, in the order `src/detect/mod.rs` lists them, bottom first.
fn detect_steps(detect: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(detect.join("mod.rs")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .filter_map(|m| m.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The modules a path names right after its prefix: `scan::Scan` names `scan`, a group
/// `{correlate, scan::{self, Readers}}` names `correlate` and `scan`.
fn named_modules(rest: &str) -> Vec<String> {
    let word = |text: &str| text.trim_start().chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
    let Some(group) = rest.strip_prefix('{') else { return vec![word(rest)] };
    // Top-level items of the group: split on commas outside nested braces.
    let (mut depth, mut start, mut names) = (0, 0, Vec::new());
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(word(&group[start..at]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(word(&group[start..at]));
                start = at + 1;
            }
            _ => {}
        }
    }
    names
}

/// Detection's steps (`src/detect/mod.rs`: normalize, platform, access, errors, invocation,
/// observation, scan, unhandled, correlate, aggregate, analyzer) use only those before them:
/// every `super::` path of a step's own file and every `crate::detect::` path in the folder
/// names that step or one before it. No circle, no arrow back up.
#[test]
fn every_detection_step_uses_only_the_steps_before_it() {
    let detect = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/detect");
    let steps = detect_steps(&detect);
    assert!(steps.len() >= 10 && steps.last().map(String::as_str) == Some("analyzer"), "{steps:?}");
    let mut paths = Vec::new();
    files(&detect, &mut paths);
    let mut wrong = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(&detect).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let step = first.trim_end_matches(".rs");
        let Some(position) = steps.iter().position(|s| s == step) else { continue };
        // `super::` of a step's own file is detect; inside a step's folder it is the step.
        let top_level = relative.components().count() == 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let prefixes: &[&str] = if top_level { &["crate::detect::", "super::"] } else { &["crate::detect::"] };
            for prefix in prefixes {
                for (at, _) in code.match_indices(prefix) {
                    for target in named_modules(&code[at + prefix.len()..]) {
                        if let Some(to) = steps.iter().position(|s| *s == target)
                            && to > position
                        {
                            wrong.push(format!(
                                "{}:{}: {step} uses {target}: {}",
                                relative.display(),
                                number + 1,
                                code.trim()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "arrows back up detection's steps:\n{}", wrong.join("\n"));
}

fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What the README says of the build: `make scan` (the scanner alone) builds no AWS SDK crate,
/// and the whole build has one HTTP stack and one TLS stack.
#[test]
fn the_scanner_builds_without_the_sdk_and_the_build_has_one_http_and_tls_stack() {
    let scanner = cargo_tree(&["--no-default-features", "--features", "cli"]);
    let sdk: Vec<&str> = scanner.lines().filter(|l| l.starts_with("aws-sdk-") || l.starts_with("aws-config")).collect();
    assert!(sdk.is_empty(), "make scan's build has {sdk:?}");
    assert!(scanner.lines().any(|l| l.starts_with("regex ")), "the tree was read: {scanner}");
    let duplicates = cargo_tree(&["--duplicates"]);
    for stack in ["hyper ", "rustls "] {
        // `--duplicates` lists each crate built in two versions, then what depends on it.
        let versions: std::collections::BTreeSet<&str> =
            duplicates.lines().filter(|l| l.starts_with(stack)).filter_map(|l| l.split_whitespace().nth(1)).collect();
        assert!(versions.len() <= 1, "{stack}in {versions:?}");
    }
}
