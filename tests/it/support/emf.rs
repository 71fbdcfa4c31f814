//! Embedded Metric Format documents checked as CloudWatch Logs would: against the
//! specification's JSON schema (tests/fixtures/emf/schema.json, with its source), plus the
//! specification's rules the schema does not express.

use std::sync::OnceLock;

use serde_json::Value;

/// The specification's limits the schema leaves out.
const MAX_METRICS_PER_DIRECTIVE: usize = 100;
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// The schema, compiled once for all the tests.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = super::project_file("tests/fixtures/emf/schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // Draft 7: the schema's `$id`s are JSON-pointer fragments, which later drafts refuse.
        jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
    })
}

/// Every way `document` breaks the specification; empty when CloudWatch would accept it.
pub fn problems(document: &Value) -> Vec<String> {
    let mut problems: Vec<String> =
        validator().iter_errors(document).map(|e| format!("schema: {e} at {}", e.instance_path())).collect();
    let directives = document["_aws"]["CloudWatchMetrics"].as_array().cloned().unwrap_or_default();
    if directives.is_empty() {
        problems.push("no metric directive".into());
    }
    for directive in &directives {
        let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
        if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
            problems.push(format!("{} metrics in one directive", metrics.len()));
        }
        for metric in &metrics {
            let name = metric["Name"].as_str().unwrap_or_default();
            match document.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => problems.push(format!("metric {name}: root member is {other:?}, not a number")),
            }
        }
        for set in directive["Dimensions"].as_array().cloned().unwrap_or_default() {
            for dimension in set.as_array().cloned().unwrap_or_default() {
                let name = dimension.as_str().unwrap_or_default();
                match document.get(name) {
                    Some(Value::String(value))
                        if !value.trim().is_empty()
                            && value.chars().count() <= MAX_DIMENSION_VALUE_CHARS
                            && value.is_ascii() => {}
                    other => problems
                        .push(format!("dimension {name}: root member is {other:?}, not a value CloudWatch takes")),
                }
            }
        }
    }
    problems
}

/// Fails the test, showing the document, unless CloudWatch would accept it.
pub fn assert_valid(document: &Value) {
    let problems = problems(document);
    assert!(problems.is_empty(), "not a valid EMF document: {problems:#?}\n{document:#}");
}

/// The EMF documents among a process's output lines (JSON objects with `_aws`).
pub fn documents_in(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| {
            // `cargo lambda watch` may prefix what the function prints; the document is the JSON
            // object from its first brace, as the specification allows after Lambda's metadata.
            let start = line.find('{').unwrap_or(0);
            serde_json::from_str(&line[start..]).unwrap_or_else(|e| panic!("an EMF line is not JSON ({e}): {line}"))
        })
        .collect()
}
