//! The catalog described for people: `troubleshooter rules` in a terminal, and RULES.md.
//!
//! Both are generated from a compiled [`Catalog`], so they always say what the function will
//! actually match: each rule's id, category, severity, title, and how it is recognised (its
//! built-in detector, its literal anchors, whether a regex confirms them, and the case rule).
//! RULES.md is the built-in catalog's markdown, kept in sync by a test (`make rules-doc`
//! regenerates it).

use std::fmt::Write as _;

use crate::model::Category;
use crate::rules::{Catalog, Rule};

/// How a rule is recognised, in words: `detector out-of-memory; "A" · "B" (+ regex)`.
fn recognised_by(rule: &Rule, quote: &dyn Fn(&str) -> String) -> String {
    let mut parts = Vec::new();
    if let Some(detector) = rule.spec.detector {
        let name = serde_json::to_value(detector).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        parts.push(format!("detector {}", quote(&name)));
    }
    if let Some(matcher) = &rule.spec.matcher {
        let mut text = matcher.anchors.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" · ");
        if matcher.regex.is_some() {
            text.push_str(" (+ regex)");
        }
        if matcher.case_insensitive {
            text.push_str(" (any case)");
        }
        parts.push(if rule.spec.detector.is_some() { format!("text {text}") } else { text });
    }
    parts.join("; ")
}

/// The rules of one category, in catalog order.
fn in_category(catalog: &Catalog, category: Category) -> Vec<&Rule> {
    catalog.rules().iter().filter(|r| r.spec.category == category).collect()
}

/// A listing for a terminal: one block per rule, grouped by category.
pub fn text(catalog: &Catalog) -> String {
    let quote = |s: &str| format!("{s:?}");
    let width = catalog.rules().iter().map(|r| r.id().len()).max().unwrap_or(0);
    let mut out = String::new();
    for category in Category::ALL {
        let rules = in_category(catalog, category);
        if rules.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} ({}): {}", category.as_str(), rules.len(), category.meaning());
        for rule in rules {
            let _ = writeln!(out, "  {:<width$}  {:<8}  {}", rule.id(), rule.spec.severity.as_str(), rule.spec.title);
            let _ = writeln!(out, "  {:<width$}  {:<8}  matches: {}", "", "", recognised_by(rule, &quote));
        }
        out.push('\n');
    }
    let categories = Category::ALL.iter().filter(|c| !in_category(catalog, **c).is_empty()).count();
    let _ = writeln!(out, "{} rules in {categories} categories.", catalog.rules().len());
    out
}

/// Text safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A markdown code span that survives backticks in its content.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') { format!("`` {text} ``") } else { format!("`{text}`") }
}

/// RULES.md: a summary per category, then one table per category.
pub fn markdown(catalog: &Catalog) -> String {
    let mut out = String::new();
    out.push_str("# Rule catalog\n\n");
    out.push_str(
        "Generated from `rules/*.toml` by `make rules-doc` (`troubleshooter rules --format markdown`); \
         do not edit by hand. `troubleshooter rules` lists the same for the catalog your configuration \
         loads (with `EXTRA_RULES_FILE`, without `DISABLED_RULES`).\n\n",
    );
    let _ = writeln!(
        out,
        "{} rules. A rule fires when one of its anchors occurs in a log message and, if it has one, its \
         regex confirms it; a detector rule is reported from Lambda's own platform records (REPORT, \
         INIT_REPORT, `platform.*`). See README.md, \"Custom rules\", to add or switch off rules.\n",
        catalog.rules().len()
    );
    out.push_str("| category | rules | what it means |\n| --- | --- | --- |\n");
    for category in Category::ALL {
        let count = in_category(catalog, category).len();
        let _ = writeln!(out, "| [`{0}`](#{0}) | {count} | {1} |", category.as_str(), cell(category.meaning()));
    }
    for category in Category::ALL {
        let rules = in_category(catalog, category);
        if rules.is_empty() {
            continue;
        }
        let meaning = category.meaning();
        let mut sentence = meaning.chars();
        let sentence: String = sentence.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(sentence).collect();
        let _ = write!(out, "\n## {}\n\n{sentence}.\n\n", category.as_str());
        out.push_str("| id | severity | title | matches |\n| --- | --- | --- | --- |\n");
        for rule in rules {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                rule.id(),
                rule.spec.severity.as_str(),
                cell(&rule.spec.title),
                recognised_by(rule, &code)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(toml: &str) -> Catalog {
        Catalog::from_file_text("t.toml", toml).unwrap()
    }

    const RULE: &str = r#"
[[rule]]
id = "linker-missing"
category = "configuration"
severity = "high"
title = "No linker | none"
summary = "s"
cause = "c"
fix = ["f"]
[rule.match]
anchors = ["linker `cc` not found", "x|y"]
regex = "linker"
case_insensitive = true
"#;

    #[test]
    fn markdown_escapes_pipes_and_backticks() {
        let md = markdown(&catalog(RULE));
        assert!(md.contains("| `linker-missing` | high | No linker \\| none | `` linker `cc` not found `` · `x\\|y` (+ regex) (any case) |"), "{md}");
        assert!(md.contains("## configuration"));
        assert!(!md.contains("## network"), "empty categories get no section");
        assert!(md.contains("| [`network`](#network) | 0 |"));
    }

    #[test]
    fn text_lists_id_severity_and_matches() {
        let text = text(&catalog(RULE));
        assert!(text.contains("configuration (1):"));
        assert!(text.contains("linker-missing  high"));
        assert!(text.contains("matches: \"linker `cc` not found\" · \"x|y\" (+ regex) (any case)"));
        assert!(text.ends_with("1 rules in 1 categories.\n"));
    }
}
