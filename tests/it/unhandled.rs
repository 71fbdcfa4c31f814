//! No silent failure, end to end: ordinary handler bugs that no rule names each give one
//! finding with its own fingerprint, a storm of one bug is one finding with its count, and
//! healthy lines that only mention errors give none; `troubleshooter scan` lists them by
//! fingerprint after the catalog's findings.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use lambda_troubleshooter::detect::Analyzer;
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::model::{Category, Severity};
use lambda_troubleshooter::rules::Catalog;

use crate::support::batch::batch;
use crate::support::corpus::{self, RealCase};

/// The three bugs of the issue that asked for this: Python, Node.js and a Python error
/// document, each from another invocation of one function.
const THREE_BUGS: &[&str] = &[
    "START RequestId: 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f Version: $LATEST",
    "[ERROR]\t2026-12-01T10:00:00.123Z\t8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tValueError: invalid literal for int() with base 10: 'abc'",
    "END RequestId: 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f",
    "REPORT RequestId: 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: error\tError Type: Runtime.Unknown",
    "2026-12-01T10:00:01.000Z\t9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'id')\",\"stack\":[\"TypeError: Cannot read properties of undefined (reading 'id')\",\"    at Runtime.handler (/var/task/index.js:5:20)\"]}",
    "{\"errorMessage\": \"'NoneType' object is not subscriptable\", \"errorType\": \"TypeError\", \"requestId\": \"3c5c2a10-3333-4c2e-9b1a-0a1b2c3d4e5f\", \"stackTrace\": [\"  File \\\"/var/task/app.py\\\", line 8, in handler\\n\"]}",
];

fn analyzer() -> Analyzer {
    Analyzer::new(Catalog::load(&[], &[]).unwrap(), Severity::Low)
}

fn analyze(lines: &[&str]) -> Vec<Finding> {
    let lines: Vec<&str> = lines.to_vec();
    analyzer().analyze(&batch("/aws/lambda/orders-api", &lines), "us-east-1")
}

#[test]
fn three_ordinary_handler_bugs_give_three_findings_with_three_fingerprints() {
    let findings = analyze(THREE_BUGS);
    assert_eq!(findings.len(), 3, "{findings:#?}");
    let fingerprints: BTreeSet<&str> = findings.iter().filter_map(|f| f.fingerprint.as_deref()).collect();
    assert_eq!(fingerprints.len(), 3, "{findings:#?}");
    for finding in &findings {
        assert_eq!((finding.category, finding.rule_id.as_str()), (Category::UnhandledError, "unhandled-error"));
        assert_eq!(finding.fingerprint_version, Some(1));
        assert_eq!(finding.count, 1);
    }
    let titles: BTreeSet<&str> = findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(
        titles,
        BTreeSet::from([
            "TypeError: <*> object is not subscriptable",
            "TypeError: Cannot read properties of undefined (reading <*>)",
            "ValueError: invalid literal for int() with base <*>: <*>",
        ])
    );
    let node = findings.iter().find(|f| f.title.starts_with("TypeError: Cannot")).unwrap();
    assert_eq!(node.top_frame.as_deref(), Some("Runtime.handler (index.js)"));
    assert_eq!(node.request_ids, ["9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f"]);
    assert!(node.insights_url.is_some());
    // The Python one failed its invocation: the REPORT is part of its evidence, its type said.
    let python = findings.iter().find(|f| f.title.starts_with("ValueError")).unwrap();
    assert_eq!(python.evidence.len(), 2, "{python:#?}");
    assert_eq!(python.details["runtime_error_type"], "Runtime.Unknown");
}

#[test]
fn the_scan_of_a_plain_log_file_lists_them_after_the_catalogs_findings() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("three-bugs.log");
    let mut lines =
        vec!["2026-12-01T09:59:00.000Z\t1b5c2a10-0000-4c2e-9b1a-0a1b2c3d4e5f\tTask timed out after 3.00 seconds"];
    lines.extend_from_slice(THREE_BUGS);
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_troubleshooter"))
        .args(["scan", path.to_str().unwrap(), "--log-group", "/aws/lambda/orders-api"])
        .env_remove("EXTRA_RULES_FILE")
        .env_remove("DISABLED_RULES")
        .env_remove("MIN_SEVERITY")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("[HIGH] Lambda function timed out"), "the catalog's finding first:\n{text}");
    assert!(
        text.contains("[HIGH] TypeError: Cannot read properties of undefined (reading <*>) — orders-api (1x)"),
        "{text}"
    );
    assert!(text.contains("  Error: error type: TypeError at Runtime.handler (index.js), fingerprint "), "{text}");
    let list = text.split("Unhandled errors, grouped by fingerprint (3):\n").nth(1).expect(&text);
    assert_eq!(list.lines().filter(|l| l.trim_start().starts_with("sample: ")).count(), 3, "{text}");
}

#[test]
fn one_node_error_a_thousand_times_with_other_ids_and_values_is_one_finding() {
    let lines: Vec<String> = (0..1000)
        .map(|n| {
            format!(
                "2026-12-01T10:{:02}:{:02}.000Z\t{n:08x}-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tInvoke Error \t{{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'field{n}')\",\"stack\":[\"TypeError: Cannot read properties of undefined (reading 'field{n}')\",\"    at Runtime.handler (/var/task/index.js:{}:20)\"]}}",
                n / 60 % 60,
                n % 60,
                5 + n % 3
            )
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let findings = analyze(&lines);
    assert_eq!(findings.len(), 1, "{:?}", findings.iter().map(|f| &f.title).collect::<Vec<_>>());
    assert_eq!((findings[0].count, findings[0].requests), (1000, Some(1000)));
    assert_eq!(findings[0].title, "TypeError: Cannot read properties of undefined (reading <*>)");
    assert!(findings[0].summary.ends_with("(1000 invocations)"), "{}", findings[0].summary);
}

/// Healthy lines from the quiet corpus that mention an error (a word, a field, a counter):
/// none gives a finding, alone or all in one batch.
#[test]
fn healthy_lines_that_mention_errors_give_none() {
    #[derive(serde::Deserialize)]
    struct Quiet {
        quiet: Vec<RealCase>,
    }
    let files = corpus::files::<Quiet>("tests/errors/real", |file| file.starts_with("quiet"));
    let mentions: Vec<String> = files
        .iter()
        .flat_map(|(_, file)| &file.quiet)
        .filter(|case| case.expect.is_none())
        .filter_map(|case| case.line.as_deref())
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            ["error", "exception", "fail", "fatal"].iter().any(|word| lower.contains(word))
        })
        .map(str::to_owned)
        .collect();
    assert!(mentions.len() >= 40, "{} healthy lines mention errors", mentions.len());
    for line in &mentions {
        let found = analyze(&[line]);
        assert!(found.is_empty(), "{line:?} gave {:?}", found.iter().map(|f| &f.rule_id).collect::<Vec<_>>());
    }
    let all: Vec<&str> = mentions.iter().map(String::as_str).collect();
    assert!(analyze(&all).is_empty());
}

#[test]
fn logged_errors_switch_off_and_failures_stay() {
    let logged = "{\"level\":\"ERROR\",\"message\":\"could not price\",\"exception\":\"Traceback (most recent call last):\\n  File \\\"/var/task/app.py\\\", line 9, in handler\\nKeyError: 'sku'\",\"exception_name\":\"KeyError\"}";
    let on = analyze(&[logged]);
    assert_eq!(
        on.iter().map(|f| (f.rule_id.as_str(), f.severity)).collect::<Vec<_>>(),
        [("logged-error", Severity::Medium)]
    );
    let off = analyzer().with_logged_errors(false);
    assert!(off.analyze(&batch("/aws/lambda/orders-api", &[logged]), "us-east-1").is_empty());
    // The same error in an invocation that failed is that failure's, on or off.
    let failed = [
        "START RequestId: 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f Version: $LATEST",
        logged,
        "REPORT RequestId: 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: error\tError Type: Runtime.Unknown",
    ];
    let found = off.analyze(&batch("/aws/lambda/orders-api", &failed), "us-east-1");
    assert_eq!(found.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(), ["unhandled-error"]);
    assert_eq!(found[0].title, "KeyError: <*>");
}
