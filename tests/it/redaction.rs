//! Redaction measured like detection: `tests/redaction/corpus.toml` holds secret
//! forms as data, each in a realistic log line with its source (a gitleaks rule, a Datadog
//! scrubber replacer, or the page documenting the format) and a twin, a line of the same
//! family that holds no secret.
//!
//! Every line goes through [`Redactor::redact`]. A secret that survives, whole or in part (any
//! [`LEAK_WINDOW`]-character piece of a longer one), is a leak; a twin that comes out changed
//! is damaged. The test fails on any leak and on more than [`MAX_DAMAGED_PERCENT`] of the
//! twins damaged. `cargo test --test it redaction -- --nocapture` prints the numbers.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use lambda_troubleshooter::redact::Redactor;
use serde::Deserialize;

/// The forms a corpus must cover, each at least once (the list).
const FORMS: &[&str] = &[
    "aws-access-key-id",
    "aws-secret-key-labelled",
    "aws-secret-key-beside-id",
    "aws-session-token",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "google-api-key",
    "private-key",
    "url-password",
    "query-string",
    "postgresql",
    "mysql",
    "mongodb",
    "redis",
    "jdbc",
    "connection-string",
    "json-password",
    "json-secret",
    "json-token",
    "json-api-key",
    "basic-auth",
    "bearer-auth",
    "cookie",
    "jwt",
    // Encoded and hostile forms.
    "url-encoded",
    "command-line",
    "query-pass",
    "json-double-escaped",
    "json-unicode-key",
    "userinfo-no-scheme",
];

/// Forms that occur both in plain text and inside a JSON log line: the corpus must
/// hold each at least once as a line that parses as JSON and once as one that does not.
const PLAIN_AND_JSON: &[&str] = &["url-encoded", "command-line", "query-pass", "userinfo-no-scheme"];

/// Twin kinds the corpus must hold at least once (the issue's "request ids, trace ids, ARNs,
/// hashes, base64 ids in URLs"); others are allowed.
const REQUIRED_TWIN_KINDS: &[&str] = &["request-id", "trace-id", "arn", "hash", "base64-url-id"];

const MIN_CASES: usize = 40;

/// A piece of a secret this long surviving is a leak (a half-redacted key is still a key).
const LEAK_WINDOW: usize = 12;

/// The share of twins redaction may change.
const MAX_DAMAGED_PERCENT: f64 = 2.0;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    form: String,
    source: String,
    line: String,
    secrets: Vec<String>,
    twin: String,
    twin_kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

fn corpus() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redaction/corpus.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str::<Corpus>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).case
}

/// The pieces of `secret` whose survival counts as a leak: the whole, or every
/// `LEAK_WINDOW`-character window of a longer secret.
fn pieces(secret: &str) -> Vec<&str> {
    let starts: Vec<usize> = secret.char_indices().map(|(i, _)| i).chain([secret.len()]).collect();
    if starts.len() <= LEAK_WINDOW + 1 {
        return vec![secret];
    }
    starts.windows(LEAK_WINDOW + 1).map(|w| &secret[w[0]..w[LEAK_WINDOW]]).collect()
}

/// The secrets of `case` that survive in `output`, whole or in part.
fn leaks<'a>(case: &'a Case, output: &str) -> Vec<&'a str> {
    case.secrets.iter().filter(|s| pieces(s).iter().any(|p| output.contains(p))).map(String::as_str).collect()
}

#[test]
fn redaction_corpus_is_well_formed() {
    let cases = corpus();
    assert!(cases.len() >= MIN_CASES, "{} cases, at least {MIN_CASES} expected", cases.len());
    let mut ids = HashSet::new();
    for case in &cases {
        let id = &case.id;
        assert!(ids.insert(id.as_str()), "{id}: duplicate id");
        assert!(FORMS.contains(&case.form.as_str()), "{id}: unknown form {:?}", case.form);
        assert!(!case.source.trim().is_empty(), "{id}: no source");
        assert!(!case.secrets.is_empty(), "{id}: no secret");
        assert!(!case.twin.trim().is_empty() && !case.twin_kind.trim().is_empty(), "{id}: no twin");
        assert_ne!(case.twin, case.line, "{id}: the twin is the line itself");
        for secret in &case.secrets {
            assert!(secret.len() >= 6, "{id}: {secret:?} is too short to be told from ordinary text");
            assert!(case.line.contains(secret.as_str()), "{id}: {secret:?} is not in its line");
            assert!(pieces(secret).iter().all(|p| !case.twin.contains(p)), "{id}: the twin holds {secret:?}");
        }
        // The ideal redaction passes: no piece of a secret occurs elsewhere in the line.
        let ideal = case.secrets.iter().fold(case.line.clone(), |line, s| line.replace(s.as_str(), "[REDACTED]"));
        assert!(leaks(case, &ideal).is_empty(), "{id}: a piece of a secret occurs outside it: {ideal}");
    }
    let forms: BTreeSet<&str> = cases.iter().map(|c| c.form.as_str()).collect();
    let missing: Vec<_> = FORMS.iter().filter(|f| !forms.contains(*f)).collect();
    assert!(missing.is_empty(), "forms without a case: {missing:?}");
    for form in PLAIN_AND_JSON {
        let json = |c: &&Case| serde_json::from_str::<serde_json::Value>(&c.line).is_ok();
        let of_form: Vec<&Case> = cases.iter().filter(|c| c.form == *form).collect();
        assert!(of_form.iter().any(json), "{form}: no case inside a JSON log line");
        assert!(!of_form.iter().all(json), "{form}: no case in plain text");
    }
    let kinds: BTreeSet<&str> = cases.iter().map(|c| c.twin_kind.as_str()).collect();
    let missing: Vec<_> = REQUIRED_TWIN_KINDS.iter().filter(|k| !kinds.contains(*k)).collect();
    assert!(missing.is_empty(), "twin kinds without a twin: {missing:?}");
}

#[test]
fn redaction_corpus_leaks_nothing_and_keeps_twins() {
    let cases = corpus();
    let redactor = Redactor;
    let mut leaked = Vec::new();
    let mut damaged = Vec::new();
    for case in &cases {
        let output = redactor.redact(&case.line);
        let survivors = leaks(case, &output);
        if !survivors.is_empty() {
            leaked.push(format!("  {} ({}): {survivors:?} survive in\n    {output}", case.id, case.form));
        }
        let twin = redactor.redact(&case.twin);
        if twin != case.twin {
            damaged.push(format!("  {} ({}): {}\n    became {twin}", case.id, case.twin_kind, case.twin));
        }
    }
    let forms: BTreeSet<&str> = cases.iter().map(|c| c.form.as_str()).collect();
    let secrets: usize = cases.iter().map(|c| c.secrets.len()).sum();
    let percent = 100.0 * damaged.len() as f64 / cases.len() as f64;
    println!(
        "redaction corpus: {} cases ({secrets} secrets, {} forms), {} leaks, {} of {} twins damaged ({percent:.1}%)",
        cases.len(),
        forms.len(),
        leaked.len(),
        damaged.len(),
        cases.len()
    );
    for line in leaked.iter().chain(&damaged) {
        println!("{line}");
    }
    assert!(leaked.is_empty(), "{} cases leak:\n{}", leaked.len(), leaked.join("\n"));
    assert!(
        percent <= MAX_DAMAGED_PERCENT,
        "{percent:.1}% of twins damaged, at most {MAX_DAMAGED_PERCENT}% allowed:\n{}",
        damaged.join("\n")
    );
}
