//! RULES.md and `troubleshooter rules`: generated from the catalog, and kept in sync with it.

use std::path::Path;
use std::process::Command;

use lambda_troubleshooter::model::Category;
use lambda_troubleshooter::report::catalog_doc;
use lambda_troubleshooter::rules::Catalog;

const REGENERATE: &str =
    "run `make rules-doc` (cargo run --bin troubleshooter -- rules --format markdown > RULES.md) and commit RULES.md";

fn builtin() -> Catalog {
    Catalog::load(&[], &[]).expect("the shipped catalog compiles")
}

fn troubleshooter(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_troubleshooter"));
    command.args(args).env_remove("EXTRA_RULES_FILE").env_remove("DISABLED_RULES");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("troubleshooter runs");
    assert!(output.status.success(), "troubleshooter {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn rules_md_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("RULES.md");
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("RULES.md is missing ({e}): {REGENERATE}"));
    let generated = catalog_doc::markdown(&builtin());
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).map_or_else(
            || "the lengths differ".to_owned(),
            |i| {
                format!(
                    "first difference at line {}:\n  RULES.md:  {}\n  generated: {}",
                    i + 1,
                    committed.lines().nth(i).unwrap_or(""),
                    generated.lines().nth(i).unwrap_or("")
                )
            },
        );
        panic!("RULES.md is out of date with rules/*.toml ({line}): {REGENERATE}");
    }
}

#[test]
fn the_cli_writes_exactly_rules_md() {
    assert_eq!(troubleshooter(&["rules", "--format", "markdown"], &[]), catalog_doc::markdown(&builtin()));
}

#[test]
fn every_category_of_the_design_has_rules() {
    let catalog = builtin();
    let empty: Vec<_> =
        Category::ALL.iter().filter(|c| !catalog.rules().iter().any(|r| r.spec.category == **c)).collect();
    assert!(empty.is_empty(), "categories without a rule: {empty:?}");
}

#[test]
fn the_text_listing_names_every_rule_with_its_category_and_severity() {
    let text = troubleshooter(&["rules"], &[]);
    let catalog = builtin();
    for rule in catalog.rules() {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule.id()))
            .unwrap_or_else(|| panic!("{} is not listed", rule.id()));
        assert!(line.contains(rule.spec.severity.as_str()), "{line}");
    }
    for category in Category::ALL {
        assert!(text.contains(&format!("{} (", category.as_str())), "{category:?} missing");
    }
    assert!(text.ends_with(&format!("{} rules in 18 categories.\n", catalog.rules().len())));
}

#[test]
fn the_listing_follows_extra_rules_file_and_disabled_rules() {
    let dir = std::env::temp_dir().join(format!("rules-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("extra.toml");
    std::fs::write(
        &file,
        r#"
[[rule]]
id = "orders-payment-declined"
category = "application_error"
severity = "low"
title = "Payment declined"
summary = "{function}: a payment was declined"
cause = "The card issuer declined the charge."
fix = ["Nothing to do unless it happens often."]
[rule.match]
anchors = ["PAYMENT_DECLINED"]
"#,
    )
    .unwrap();
    let text = troubleshooter(
        &["rules"],
        &[("EXTRA_RULES_FILE", file.to_str().unwrap()), ("DISABLED_RULES", "lambda-memory-pressure")],
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(text.contains("orders-payment-declined"), "{text}");
    assert!(text.contains("\"PAYMENT_DECLINED\""), "{text}");
    assert!(!text.contains("lambda-memory-pressure"), "{text}");
}
