//! Custom rules, as docs/rules.md's "Custom rules" section promises them: its example compiles and
//! does what that page says, and a broken EXTRA_RULES_FILE or DISABLED_RULES stops init with
//! an error that names the file (or variable) and the rule id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lambda_troubleshooter::config::{Config, DISABLED_RULES, EXTRA_RULES_FILE};
use lambda_troubleshooter::detect::Analyzer;
use lambda_troubleshooter::handler::Troubleshooter;
use lambda_troubleshooter::model::Severity;
use lambda_troubleshooter::rules::Catalog;
use serde_json::Value;

use crate::support::batch;
use batch::batch;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md")).unwrap()
}

/// The body of the first ```lang block after `heading` in docs/rules.md.
fn block_after(readme: &str, heading: &str, lang: &str) -> String {
    let section = &readme[readme.find(heading).unwrap_or_else(|| panic!("docs/rules.md has no {heading:?}"))..];
    let fence = format!("```{lang}\n");
    let start = section.find(&fence).unwrap_or_else(|| panic!("no ```{lang} block after {heading:?}")) + fence.len();
    let end = section[start..].find("\n```").unwrap();
    section[start..start + end].to_owned()
}

/// A file of its own for each test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("custom-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

#[test]
fn the_readme_example_rule_compiles_and_does_what_the_readme_says() {
    let readme = readme();
    let toml = block_after(&readme, "## Custom rules", "toml");
    let line = block_after(&readme, "## Custom rules", "text");
    let catalog = Catalog::load(&[("README.md".to_owned(), toml)], &[])
        .unwrap_or_else(|e| panic!("the example rule of docs/rules.md does not compile: {e}"));
    let analyzer = Analyzer::new(catalog, Severity::Low);

    let findings = analyzer.analyze(&batch("/aws/lambda/checkout-api", &[line.trim()]), "us-east-1");
    let ids: Vec<_> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(ids, ["payment-provider-failing"], "the example line should fire the example rule and nothing else");
    let finding = &findings[0];
    assert_eq!(finding.severity, Severity::High);
    assert!(
        readme.contains(&format!("`{}`", finding.summary)),
        "docs/rules.md should quote the summary {:?}",
        finding.summary
    );
    for step in &finding.fix {
        assert!(readme.contains(&format!("`{step}`")), "docs/rules.md should quote the fix step {step:?}");
    }
    let details =
        finding.details.iter().map(|(name, value)| format!("\"{name}\": {value}")).collect::<Vec<_>>().join(", ");
    assert!(readme.contains(&format!("`{{{details}}}`")), "docs/rules.md should quote the details {{{details}}}");

    // The rule's exclude keeps the rule quiet; the line is still an exception logged at ERROR,
    // which the catalog reports as a logged error unless LOGGED_ERRORS is off.
    let excluded = line.trim().replace("ord-1042", "ord-1042 dry_run=true");
    let found = analyzer.analyze(&batch("/aws/lambda/checkout-api", &[&excluded]), "us-east-1");
    assert!(found.iter().all(|f| f.rule_id != "payment-provider-failing"), "{found:?}");
    let quiet = analyzer.clone().with_logged_errors(false);
    assert!(quiet.analyze(&batch("/aws/lambda/checkout-api", &[&excluded]), "us-east-1").is_empty());
}

#[test]
fn the_readme_example_works_as_extra_rules_file() {
    let file = TempFile::new("readme-rules.toml", &block_after(&readme(), "## Custom rules", "toml"));
    let config = Config { extra_rules_file: Some(file.0.clone()), ..Config::default() };
    let troubleshooter = Troubleshooter::new(config).unwrap_or_else(|e| panic!("{e}"));
    assert!(troubleshooter.analysis().catalog().rules().iter().any(|r| r.id() == "payment-provider-failing"));
}

const GOOD: &str = r#"
[[rule]]
id = "broken-rule"
category = "application_error"
severity = "high"
title = "Broken"
summary = "{function}: {order}"
cause = "Because."
fix = ["Fix {order}."]
[rule.match]
anchors = ["OrderError"]
regex = 'OrderError: (?P<order>\w+)'
"#;

#[test]
fn a_broken_extra_rules_file_stops_init_naming_the_file_and_the_rule() {
    let cases = [
        (
            "unknown field",
            GOOD.replace("severity = \"high\"", "severity = \"high\"\nseverty = \"low\""),
            "unknown field",
        ),
        ("invalid regex", GOOD.replace(r"(?P<order>\w+)", r"(?P<order>\w+"), "invalid regex"),
        ("unknown category", GOOD.replace("application_error", "payments"), "unknown variant"),
        ("no anchor", GOOD.replace("anchors = [\"OrderError\"]", "anchors = []"), "anchor"),
        ("unknown template value", GOOD.replace("Fix {order}.", "Fix {ordr}."), "`ordr`"),
        ("duplicate of a built-in id", GOOD.replace("broken-rule", "lambda-timeout"), "duplicate"),
    ];
    assert!(
        Troubleshooter::new(Config {
            extra_rules_file: Some(TempFile::new("good.toml", GOOD).0.clone()),
            ..Config::default()
        })
        .is_ok()
    );
    for (name, text, problem) in cases {
        let file = TempFile::new(&format!("{}.toml", name.replace(' ', "-")), &text);
        let config = Config { extra_rules_file: Some(file.0.clone()), ..Config::default() };
        let error = Troubleshooter::new(config).map(|_| ()).expect_err(name).to_string();
        let id = if name.starts_with("duplicate") { "lambda-timeout" } else { "broken-rule" };
        assert!(error.contains(&file.0.display().to_string()), "{name}: {error} should name the file");
        assert!(error.contains(&format!("rule `{id}`")), "{name}: {error} should name the rule");
        assert!(error.contains(problem), "{name}: {error} should say {problem:?}");
    }
}

/// A rule of one's own whose group, `key` or `values` is named after a detail the
/// troubleshooter writes itself (`context`, `values`, …) or that marks an unhandled error
/// (`fingerprint`, …) was loaded, and its value silently overwritten or taken for an error's.
/// It stops init naming the file, the rule and the name.
#[test]
fn a_custom_rule_naming_a_reserved_detail_stops_init() {
    let cases = [
        ("context", GOOD.replace("(?P<order>", "(?P<context>").replace("{order}", "{context}")),
        (
            "suppressed_findings",
            GOOD.replace("(?P<order>", "(?P<suppressed_findings>").replace("{order}", "{function}"),
        ),
        ("fingerprint", GOOD.replace("(?P<order>", "(?P<fingerprint>").replace("{order}", "{fingerprint}")),
        ("error_title", GOOD.replace("(?P<order>", "(?P<error_title__2>").replace("{order}", "{function}")),
        ("values", GOOD.replace("[rule.match]", "values = [\"values\"]\n[rule.match]")),
    ];
    for (name, text) in cases {
        let file = TempFile::new(&format!("reserved-{name}.toml"), &text);
        let config = Config { extra_rules_file: Some(file.0.clone()), ..Config::default() };
        let error = Troubleshooter::new(config).map(|_| ()).expect_err(name).to_string();
        assert!(error.contains(&file.0.display().to_string()), "{name}: {error} should name the file");
        assert!(error.contains("rule `broken-rule`"), "{name}: {error} should name the rule");
        assert!(error.contains(&format!("`{name}` is a reserved detail name")), "{name}: {error}");
    }
    // The near miss loads and keeps its value.
    let near = GOOD.replace("(?P<order>", "(?P<context_id>").replace("{order}", "{context_id}");
    let catalog = Catalog::load(&[("near.toml".to_owned(), near)], &[]).unwrap();
    let findings = Analyzer::new(catalog, Severity::Low)
        .analyze(&batch("/aws/lambda/checkout-api", &["OrderError: ord1042"]), "us-east-1");
    let rule = findings.iter().find(|f| f.rule_id == "broken-rule").unwrap();
    assert_eq!(rule.details["context_id"], "ord1042");
}

/// `troubleshooter rules` with `EXTRA_RULES_FILE`: what a user runs to check a file before
/// deploying it (docs/rules.md, "Custom rules").
fn rules_command(file: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_troubleshooter"))
        .arg("rules")
        .env("EXTRA_RULES_FILE", file)
        .env_remove("DISABLED_RULES")
        .output()
        .unwrap()
}

/// A regex over the size limit once compiled passed `troubleshooter rules` and was
/// dropped at its first use, so the rule never matched. Each of the three shapes that grow
/// past the limit now stops `rules` (and init) naming the file, the rule and the limit.
#[test]
fn a_regex_too_large_once_compiled_fails_troubleshooter_rules() {
    let alternation = (0..20_000).map(|i| format!("E{i}x")).collect::<Vec<_>>().join("|");
    for (name, regex) in [
        ("unicode-class", r"OrderError: (?P<order>\w{24})".to_owned()),
        ("alternation", format!("OrderError: (?P<order>{alternation})")),
        ("repetition", r"OrderError: (?P<order>a{1000000})".to_owned()),
    ] {
        let text = GOOD.replace(r"OrderError: (?P<order>\w+)", &regex);
        let file = TempFile::new(&format!("too-large-{name}.toml"), &text);
        let output = rules_command(&file.0);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: `troubleshooter rules` accepted it");
        assert!(stderr.contains(&file.0.display().to_string()), "{name}: {stderr} should name the file");
        assert!(
            stderr.contains("rule `broken-rule`: regex is too large once compiled (limit 1048576 bytes)"),
            "{name}: {stderr}"
        );
    }
    // The ASCII class of the same width is fine, and the rule is listed.
    let file = TempFile::new("ascii-class.toml", &GOOD.replace(r"(?P<order>\w+)", "(?P<order>[A-Za-z0-9_]{24})"));
    let output = rules_command(&file.0);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("broken-rule"));
}

#[test]
fn configuration_from_the_environment_reaches_the_catalog() {
    let file = TempFile::new("env.toml", &GOOD.replace("(?P<order>\\w+)'", "(?P<order>\\w+'"));
    let env: HashMap<&str, String> = [(EXTRA_RULES_FILE, file.0.display().to_string())].into();
    let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
    let error = Troubleshooter::new(config).map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("env.toml") && error.contains("rule `broken-rule`"), "{error}");

    let env: HashMap<&str, String> = [(DISABLED_RULES, "lambda-memory-pressure, no-such-rule".to_owned())].into();
    let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
    let error = Troubleshooter::new(config).map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("DISABLED_RULES") && error.contains("rule `no-such-rule`"), "{error}");

    let env: HashMap<&str, String> = [(DISABLED_RULES, "lambda-memory-pressure,http-5xx-response".to_owned())].into();
    let troubleshooter = Troubleshooter::new(Config::from_lookup(|name| env.get(name).cloned()).unwrap()).unwrap();
    let ids: Vec<&str> = troubleshooter.analysis().catalog().rules().iter().map(|r| r.id()).collect();
    assert!(!ids.contains(&"lambda-memory-pressure") && !ids.contains(&"http-5xx-response"));
    assert!(ids.contains(&"lambda-timeout"));
}

#[test]
fn the_details_of_the_readme_example_are_typed() {
    let toml = block_after(&readme(), "## Custom rules", "toml");
    let analyzer = Analyzer::new(Catalog::load(&[("README.md".to_owned(), toml)], &[]).unwrap(), Severity::Low);
    let findings = analyzer
        .analyze(&batch("/aws/lambda/checkout-api", &["ERROR PaymentProviderError: adyen answered 502"]), "us-east-1");
    assert_eq!(findings[0].details.get("status"), Some(&Value::from(502)));
    assert_eq!(findings[0].summary, "checkout-api could not charge a card: adyen answered 502");
    assert_eq!(
        findings[0].fix,
        [
            "Check the provider's status page, then retry the failed orders.",
            "Page the payments team if it lasts more than 10 minutes (runbook [payments-3])."
        ]
    );
}
