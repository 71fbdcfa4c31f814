//! Tests of `config`.

use super::*;
use std::collections::HashMap;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn new_error_window_and_logged_errors_are_read_and_checked() {
    let default = config(&[]).unwrap();
    assert_eq!(default.new_error_window_seconds, 48 * 3_600);
    assert!(default.logged_errors);
    assert_eq!(default.suppress_category_seconds.get(&Category::UnhandledError), Some(&(48 * 3_600)));
    let set = config(&[(NEW_ERROR_WINDOW, "90m"), (LOGGED_ERRORS, "off")]).unwrap();
    assert_eq!(set.new_error_window_seconds, 5_400);
    assert_eq!(set.suppress_category_seconds.get(&Category::UnhandledError), Some(&5_400));
    assert!(!set.logged_errors);
    assert_eq!(config(&[(NEW_ERROR_WINDOW, "3600")]).unwrap().new_error_window_seconds, 3_600);
    for bad in ["0", "31d", "soon", "-1h"] {
        let error = config(&[(NEW_ERROR_WINDOW, bad)]).unwrap_err().to_string();
        assert!(error.contains("NEW_ERROR_WINDOW") && error.contains("48h"), "{bad}: {error}");
    }
    assert!(config(&[(LOGGED_ERRORS, "maybe")]).unwrap_err().to_string().contains("LOGGED_ERRORS"));
}

#[test]
fn defaults_match_the_design_table() {
    let c = config(&[]).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.max_decompressed_bytes, 64 * 1024 * 1024);
    // On Lambda, the cap follows the function's memory unless set explicitly.
    let on_lambda = |extra: Option<&str>| {
        Config::from_lookup(|name| match name {
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE => Some("128".into()),
            MAX_DECOMPRESSED_BYTES => extra.map(str::to_owned),
            _ => None,
        })
        .unwrap()
        .max_decompressed_bytes
    };
    assert_eq!(on_lambda(None), 32 * 1024 * 1024);
    assert_eq!(on_lambda(Some("1048576")), 1024 * 1024);
    assert_eq!(decompression_cap_for(10_240), 2560 * 1024 * 1024);
    assert_eq!(c.min_severity, Severity::Low);
    assert_eq!(c.suppress_seconds, 300);
    assert!(!c.metrics_per_function);
}

#[test]
fn values_are_parsed() {
    let c = config(&[
        (TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:findings"),
        (MIN_SEVERITY, "HIGH"),
        (DISABLED_RULES, " lambda-memory-pressure, ,lambda-timeout "),
        (MAX_DECOMPRESSED_BYTES, "1048576"),
        (SUPPRESS_SECONDS, "0"),
        (SUPPRESS_CATEGORY_SECONDS, "timeout=600, out_of_memory=60"),
        (SUPPRESS_TABLE, "troubleshooter-state"),
        (ENRICH_CONTEXT, "On"),
        (AWS_LAMBDA_LOG_GROUP_NAME, "/aws/lambda/troubleshooter"),
        (AWS_REGION, "eu-west-1"),
        (METRICS_PER_FUNCTION, "TRUE"),
        (AWS_LAMBDA_FUNCTION_NAME, "prod-troubleshooter"),
    ])
    .unwrap();
    assert_eq!(c.topic_arn.as_deref(), Some("arn:aws:sns:eu-west-1:123456789012:findings"));
    assert_eq!(c.min_severity, Severity::High);
    assert_eq!(c.disabled_rules, vec!["lambda-memory-pressure", "lambda-timeout"]);
    assert_eq!(c.max_decompressed_bytes, 1_048_576);
    assert_eq!(c.suppress_seconds, 0);
    assert_eq!(c.suppress_table.as_deref(), Some("troubleshooter-state"));
    assert!(c.enrich_context);
    assert_eq!(c.suppress_category_seconds[&Category::Timeout], 600);
    assert_eq!(c.suppress_category_seconds[&Category::OutOfMemory], 60);
    assert_eq!(c.suppress_category_seconds[&Category::MemoryPressure], 86_400, "defaults stay");
    assert_eq!(c.own_log_group.as_deref(), Some("/aws/lambda/troubleshooter"));
    assert_eq!(c.region, "eu-west-1");
    assert!(c.metrics_per_function);
    assert_eq!(c.own_function_name.as_deref(), Some("prod-troubleshooter"));
    assert!(!config(&[(METRICS_PER_FUNCTION, "false")]).unwrap().metrics_per_function);
}

#[test]
fn bad_values_name_the_variable_and_the_accepted_values() {
    for (variable, value, accepted) in [
        (MIN_SEVERITY, "urgent", "low, medium, high, critical"),
        (MAX_DECOMPRESSED_BYTES, "64MB", "whole number of bytes"),
        (MAX_DECOMPRESSED_BYTES, "10", "at least"),
        (TOPIC_ARN, "findings", "SNS topic ARN"),
        (SUPPRESS_SECONDS, "5m", "whole number of seconds"),
        (SUPPRESS_SECONDS, "-1", "from 0 (no suppression)"),
        (METRICS_PER_FUNCTION, "yes", "true or false"),
        (SUPPRESS_SECONDS, "604801", "to 604800"),
        (SUPPRESS_CATEGORY_SECONDS, "oom=60", "CATEGORY=SECONDS"),
        (SUPPRESS_CATEGORY_SECONDS, "out_of_memory=1h", "out_of_memory=21600"),
        (SUPPRESS_TABLE, "a b", "DynamoDB table name"),
        (ENRICH_CONTEXT, "yes", "on or off"),
    ] {
        let err = config(&[(variable, value)]).unwrap_err().to_string();
        assert!(err.starts_with(variable), "{err}");
        assert!(err.contains(accepted), "{err}");
    }
}

#[test]
fn an_unreadable_rules_file_is_named() {
    let c = config(&[(EXTRA_RULES_FILE, "/nonexistent/rules.toml")]).unwrap();
    let err = c.extra_rule_files().unwrap_err().to_string();
    assert!(err.contains("EXTRA_RULES_FILE") && err.contains("/nonexistent/rules.toml"), "{err}");
}
