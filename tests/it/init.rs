//! Init of the Lambda binary: a bad configuration stops it before it asks the Runtime API for
//! work, with the message as written in its log (the function's log is stderr).

use std::process::Command;

#[test]
fn a_bad_variable_stops_init_with_its_message_as_written() {
    let output = Command::new(env!("CARGO_BIN_EXE_lambda-troubleshooter"))
        .env("MIN_SEVERITY", "loud")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8_lossy(&output.stderr);
    let line = log.lines().find(|l| l.contains("init failed")).unwrap_or_else(|| panic!("no init error in {log}"));
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["level"], "ERROR");
    assert_eq!(
        record["fields"]["error"],
        "MIN_SEVERITY=\"loud\" is not valid: expected one of low, medium, high, critical"
    );
}

#[test]
fn a_broken_extra_rule_file_stops_init_naming_the_file_and_rule() {
    let dir = std::env::temp_dir().join(format!("lt-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.toml");
    std::fs::write(
        &path,
        "[[rule]]\nid = \"my-rule\"\ncategory = \"network\"\nseverity = \"low\"\ntitle = \"t\"\nsummary = \"s\"\ncause = \"c\"\nfix = [\"f\"]\n[rule.match]\nanchors = [\"x\"]\nregex = '(unclosed'\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lambda-troubleshooter"))
        .env("EXTRA_RULES_FILE", &path)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("init failed") && log.contains("rule `my-rule`") && log.contains("invalid regex"), "{log}");
}

#[test]
fn a_bad_metrics_per_function_stops_init_with_the_accepted_values() {
    let output = Command::new(env!("CARGO_BIN_EXE_lambda-troubleshooter"))
        .env("METRICS_PER_FUNCTION", "yes")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains(r#"METRICS_PER_FUNCTION=\"yes\" is not valid: expected true or false (default false)"#),
        "{log}"
    );
}
