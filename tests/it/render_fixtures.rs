//! Each rendering of real findings (from events/) compared with an expected file in
//! tests/fixtures/render/: the email subject, the email text, the AWS Chatbot notification and
//! the message attributes, exactly as the SNS adapter publishes them.
//!
//! After an intended change, regenerate the files and review the diff:
//! `UPDATE_EXPECT=1 cargo test --test it render_fixtures`.

use crate::support;

use std::path::Path;

use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::ingest::{self, Invocation};
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::report::render;
use support::project_file;

/// The one finding of an event file.
fn finding(event: &str) -> Finding {
    let config = Config::default();
    let bytes = std::fs::read(project_file(event)).unwrap();
    let Invocation::AwsLogs(batch) = ingest::decode_invocation(&bytes, config.max_decompressed_bytes).unwrap() else {
        panic!("{event} is not an awslogs event");
    };
    let mut findings = Analysis::new(config).unwrap().analyze_batch(&batch).findings;
    assert_eq!(findings.len(), 1, "{event} should give one finding: {findings:#?}");
    findings.remove(0)
}

/// Compares `actual` with the expected file, or writes it when UPDATE_EXPECT is set.
fn check(name: &str, actual: &str) {
    let path = project_file("tests/fixtures/render").join(format!("{name}.expected"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); create it with UPDATE_EXPECT=1 cargo test --test it render_fixtures",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendering, first at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             --- actual rendering:\n{actual}\n(after an intended change: UPDATE_EXPECT=1 cargo test --test it render_fixtures)",
            display(&path),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

fn display(path: &Path) -> String {
    path.strip_prefix(support::root()).unwrap_or(path).display().to_string()
}

fn check_renderings(name: &str, event: &str) {
    let finding = finding(event);
    check(&format!("{name}.subject"), &format!("{}\n", render::subject(&finding)));
    check(&format!("{name}.email"), &render::email(&finding));
    check(&format!("{name}.chatbot"), &(serde_json::to_string_pretty(&render::chatbot(&finding)).unwrap() + "\n"));
    let attributes: String =
        render::message_attributes(&finding).iter().map(|(name, value)| format!("{name}={value}\n")).collect();
    check(&format!("{name}.attributes"), &attributes);
}

#[test]
fn out_of_memory_renderings_match_the_expected_files() {
    check_renderings("oom-report", "events/oom-report.json");
}

#[test]
fn access_denied_renderings_match_the_expected_files() {
    check_renderings("secret-access-denied", "events/secret-access-denied.json");
}
