//! Tests of [`super`]: what subscribers receive, and the limits it keeps.

use super::*;
use crate::model::Severity;
use crate::model::finding::Evidence;

fn finding() -> Finding {
    serde_json::from_value(json!({
        "schema": "lambda-troubleshooter/finding/v1", "id": "c7300c56dcc4f7947ab6ff933636a289",
        "rule_id": "lambda-out-of-memory", "category": "out_of_memory", "severity": "critical",
        "title": "Lambda function ran out of memory",
        "summary": "orders-api used 256 of 256 MB and was stopped (3 invocations)",
        "cause": "The function needed more memory than configured.",
        "fix": ["Raise MemorySize to 512 MB", "Stream large payloads"], "docs": ["https://docs.aws.amazon.com/lambda/"],
        "account": "123456789012", "region": "us-east-1", "log_group": "/aws/lambda/orders-api",
        "log_stream": "2024/03/04/[$LATEST]94fa", "function": "orders-api", "count": 3,
        "first_seen": "2024-03-04T17:22:38.033Z", "last_seen": "2024-03-04T17:25:01.910Z",
        "request_ids": ["r1"], "event_ids": ["e1"],
        "evidence": [{"timestamp": "2024-03-04T17:22:38.033Z", "message": "REPORT RequestId: r1\tStatus: error\nsecond line"}],
        "details": {"memory_size_mb": 256}, "console_url": "https://console.example/logs"
    }))
    .unwrap()
}

#[test]
fn subject_follows_the_contract() {
    assert_eq!(subject(&finding()), "[CRITICAL] orders-api: out of memory (3x)");
    let mut once = finding();
    once.count = 1;
    assert_eq!(subject(&once), "[CRITICAL] orders-api: out of memory");
}

#[test]
fn a_long_function_name_is_cut_cleanly_in_the_middle() {
    let mut long = finding();
    long.function = format!("orders-{}-handler", "x".repeat(140));
    let subject = subject(&long);
    assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS, "{subject}");
    assert!(subject.starts_with("[CRITICAL] orders-xxx"), "{subject}");
    assert!(subject.ends_with("xxx-handler: out of memory (3x)"), "{subject}");
    assert_eq!(subject.matches("...").count(), 1, "{subject}");
}

#[test]
fn subjects_are_printable_ascii_on_one_line() {
    let mut odd = finding();
    odd.function = "/ecs/web\nnext\tline — ünïcode\u{7}".into();
    let subject = subject(&odd);
    assert_eq!(subject, "[CRITICAL] /ecs/web next line ? ?n?code: out of memory (3x)");
    assert!(subject.chars().all(|c| (' '..='~').contains(&c)));
}

#[test]
fn chatbot_notification_has_the_required_fields_and_a_stable_thread() {
    let f = finding();
    let n = chatbot(&f);
    assert_eq!(n["version"], "1.0");
    assert_eq!(n["source"], "custom");
    assert_eq!(n["id"], f.id.as_str());
    assert_eq!(n["content"]["textType"], "client-markdown");
    let description = n["content"]["description"].as_str().unwrap();
    assert!(description.starts_with("orders-api used 256 of 256 MB"), "{description}");
    assert!(description.contains("REPORT RequestId: r1") && !description.contains("second line"), "{description}");
    assert!(description.ends_with("https://console.example/logs"), "{description}");
    assert_eq!(n["content"]["nextSteps"], json!(["Raise MemorySize to 512 MB", "Stream large payloads"]));
    assert_eq!(n["content"]["keywords"], json!(["critical", "out_of_memory", "lambda-out-of-memory"]));
    assert_eq!(n["metadata"]["eventType"], "out_of_memory");
    assert_eq!(n["metadata"]["summary"], "[CRITICAL] orders-api: out of memory (3x)");
    assert_eq!(
        n["metadata"]["relatedResources"],
        json!([
            "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/orders-api"
        ])
    );
    // Another batch, another finding id: the same thread. Another rule: another thread.
    let mut repeat = f.clone();
    repeat.id = "other".into();
    assert_eq!(chatbot(&repeat)["metadata"]["threadId"], n["metadata"]["threadId"]);
    let mut other_rule = f.clone();
    other_rule.rule_id = "lambda-timeout".into();
    assert_ne!(chatbot(&other_rule)["metadata"]["threadId"], n["metadata"]["threadId"]);
}

#[test]
fn chatbot_description_stays_within_its_limit_with_closed_code_blocks() {
    let mut big = finding();
    big.cause = "c".repeat(2000);
    big.evidence = (0..3).map(|n| Evidence { timestamp: format!("t{n}"), message: "e".repeat(5000) }).collect();
    let n = chatbot(&big);
    let description = n["content"]["description"].as_str().unwrap();
    assert!(description.chars().count() <= MAX_CHATBOT_DESCRIPTION_CHARS, "{}", description.len());
    assert_eq!(description.matches("```").count() % 2, 0, "{description}");
    assert!(description.ends_with("https://console.example/logs"));
}

#[test]
fn email_is_the_whole_diagnosis() {
    let text = email(&finding());
    for part in [
        "Lambda function ran out of memory [CRITICAL]",
        "Function:   orders-api",
        "Account:    123456789012 (us-east-1)",
        "WHAT HAPPENED\norders-api used 256 of 256 MB and was stopped (3 invocations)\n",
        "WHY\nThe function needed more memory than configured.\n",
        "HOW TO FIX\n1. Raise MemorySize to 512 MB\n2. Stream large payloads\n",
        "    REPORT RequestId: r1\tStatus: error\n    second line\n",
        "memory_size_mb: 256",
        "https://console.example/logs",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    assert!(!text.contains("held back"));
}

#[test]
fn held_back_repeats_are_said_in_every_rendering() {
    let mut f = finding();
    f.details.held = Some(crate::model::details::Held { findings: 4, occurrences: 9, window_seconds: 300 });
    let note = "4 more findings of this problem (9 occurrences) were held back since the previous message \
                (suppression window: 300 s).";
    let text = email(&f);
    assert!(text.contains(note), "{text}");
    assert!(!text.contains("suppressed_findings:"), "{text}");
    assert!(chatbot(&f)["content"]["description"].as_str().unwrap().contains(note));
}

#[test]
fn attributes_for_filter_policies_leave_out_empty_values() {
    let mut f = finding();
    let names: Vec<&str> = message_attributes(&f).iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["severity", "category", "rule_id", "function", "log_group", "account"]);
    assert_eq!(message_attributes(&f)[0], ("severity", "critical".to_owned()));
    f.account.clear();
    assert!(message_attributes(&f).iter().all(|(n, _)| *n != "account"));
    assert!(related_resources(&f).is_empty());
}

#[test]
fn related_resources_are_arns_of_the_regions_partition() {
    let mut f = finding();
    for (region, partition) in [("cn-northwest-1", "aws-cn"), ("us-gov-east-1", "aws-us-gov"), ("us-east-1", "aws")] {
        f.region = region.into();
        assert_eq!(
            related_resources(&f),
            [
                format!("arn:{partition}:lambda:{region}:123456789012:function:orders-api"),
                format!("arn:{partition}:logs:{region}:123456789012:log-group:/aws/lambda/orders-api"),
            ]
        );
        assert_eq!(chatbot(&f)["metadata"]["relatedResources"][0], related_resources(&f)[0]);
    }
}

#[test]
fn the_sns_message_has_the_three_renderings_as_strings() {
    let f = finding();
    let message: Value = serde_json::from_str(&sns_message(&f).unwrap()).unwrap();
    let keys: Vec<&String> = message.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["default", "email", "https"]);
    let default: Finding = serde_json::from_str(message["default"].as_str().unwrap()).unwrap();
    assert_eq!(default, f);
    assert_eq!(message["email"].as_str().unwrap(), email(&f));
    let https: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
    assert_eq!(https, chatbot(&f));
}

#[test]
fn the_lines_before_the_failure_are_shown_in_every_rendering() {
    let mut f = finding();
    f.details.context = vec![crate::model::Evidence {
        timestamp: "2024-03-04T17:22:37.900Z".into(),
        message: "INFO\tloading 120000 orders into memory".into(),
    }];
    f.details.enrichment = Some("7 line(s) fetched".into());
    let text = text(&f);
    assert!(text.contains("  Before it failed:\n    2024-03-04T17:22:37.900Z INFO\tloading 120000 orders"), "{text}");
    let mail = email(&f);
    assert!(mail.contains("BEFORE IT FAILED"), "{mail}");
    assert!(mail.contains("2024-03-04T17:22:37.900Z  INFO\tloading 120000 orders into memory"), "{mail}");
    assert!(!mail.contains("context: "), "the lines are not dumped again among the details: {mail}");
    assert!(mail.contains("enrichment: 7 line(s) fetched"), "{mail}");
    let card = chatbot(&f)["content"]["description"].as_str().unwrap().to_owned();
    assert!(card.contains("*Before it failed:*\n```\n2024-03-04T17:22:37.900Z INFO\tloading 120000 orders"), "{card}");
}

fn unhandled(new: Option<bool>) -> Finding {
    let mut f = finding();
    f.rule_id = "unhandled-error".into();
    f.category = crate::model::Category::UnhandledError;
    f.severity = Severity::High;
    f.title = "TypeError: Cannot read properties of undefined (reading <*>)".into();
    f.fingerprint = Some("0f3a5c2a10b1c2d3".into());
    f.fingerprint_version = Some(1);
    f.error_type = Some("TypeError".into());
    f.top_frame = Some("Runtime.handler (index.js)".into());
    f.new_error_type = new;
    f
}

#[test]
fn a_new_error_type_is_said_in_every_rendering() {
    let new = unhandled(Some(true));
    assert_eq!(subject(&new), "[HIGH] orders-api: new error type TypeError (3x)");
    let line = "new error type: TypeError at Runtime.handler (index.js), fingerprint 0f3a5c2a10b1c2d3 (v1)";
    assert!(text(&new).contains(&format!("  Error: {line}")), "{}", text(&new));
    let mail = email(&new);
    assert!(mail.starts_with("NEW ERROR TYPE"), "{mail}");
    assert!(mail.contains(&format!("Error:      {line}")), "{mail}");
    let card = chatbot(&new);
    assert!(card["content"]["title"].as_str().unwrap().contains("New error type · orders-api"), "{card}");
    assert!(card["content"]["description"].as_str().unwrap().contains(line), "{card}");
    let json: Value = serde_json::from_str(&json_line(&new).unwrap()).unwrap();
    assert_eq!((json["new_error_type"].clone(), json["fingerprint_version"].clone()), (json!(true), json!(1)));

    // A known one, and one with nothing that remembers (a single scan), say so or nothing.
    let known = unhandled(Some(false));
    assert_eq!(subject(&known), "[HIGH] orders-api: unhandled error TypeError (3x)");
    assert!(!email(&known).contains("NEW ERROR TYPE") && email(&known).contains("known error type: TypeError"));
    assert!(text(&unhandled(None)).contains("  Error: error type: TypeError"));
    // Other findings carry none of it.
    assert!(error_line(&finding()).is_none());
    assert!(!serde_json::to_string(&finding()).unwrap().contains("fingerprint"));
}
