//! Tests of the platform parser on real platform lines (AWS's documentation, public issues and
//! fixtures) and their variants.
//!
//! Over 400 lines: the table of real platform records in every format (text, JSON, behind
//! prefixes, copied without their head) and the applications' lines that quote them and must
//! stay quiet.

use super::prefix::PHRASES;
use super::*;

fn parse(line: &str) -> Option<PlatformRecord> {
    PlatformParser::new().parse(line)
}

fn report(line: &str) -> Report {
    match parse(line) {
        Some(PlatformRecord::Report(report)) => report,
        other => panic!("not a report: {other:?}"),
    }
}

#[test]
fn aws_sample_report_with_escaped_tabs_and_stray_space() {
    let r = report(
        "REPORT RequestId: 6234bffe-149a-b642-81ff-2e8e376d8aff\tDuration: 46.84 ms\tBilled Duration: 47 ms \tMemory Size: 192 MB\tMax Memory Used: 72 MB\t\n",
    );
    assert_eq!(r.request_id.as_deref(), Some("6234bffe-149a-b642-81ff-2e8e376d8aff"));
    assert_eq!(r.duration_ms, Some(46.84));
    assert_eq!(r.memory_size_mb, Some(192));
    assert_eq!(r.max_memory_used_mb, Some(72));
    assert_eq!(r.status, None);
    assert!(!r.at_memory_limit());
}

#[test]
fn report_with_init_duration_and_xray_on_one_line() {
    let r = report(
        "REPORT RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\tDuration: 128.83 ms\tBilled Duration: 200 ms\tMemory Size: 128 MB\tMax Memory Used: 74 MB\tInit Duration: 166.62 ms\tXRAY TraceId: 1-5d9d007f-0a8c7fd02xmpl480aed55ef0\tSegmentId: 3d752xmpl1bbe37e\tSampled: true",
    );
    assert_eq!(r.init_duration_ms, Some(166.62));
    assert_eq!(r.duration_ms, Some(128.83));
    assert_eq!(r.max_memory_used_mb, Some(74));
}

#[test]
fn snapstart_report_and_field_order_and_xray_after_newline() {
    let r = report(
        "REPORT RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763\tDuration: 2338.66 ms\tBilled Duration: 2521 ms\tMemory Size: 3009 MB\tMax Memory Used: 173 MB\tRestore Duration: 398.97 ms\tBilled Restore Duration: 182 ms\t",
    );
    assert_eq!(r.restore_duration_ms, Some(398.97));
    let r = report(
        "REPORT RequestId: f8ac1208-aaaa-bbbb-cccc-000000000000 Init Duration: 48.26 ms   Duration: 237.17 ms   Billed Duration: 238 ms   Memory Size: 128 MB   Max Memory Used: 26 MB",
    );
    assert_eq!((r.init_duration_ms, r.duration_ms), (Some(48.26), Some(237.17)));
    let r = report(
        "REPORT RequestId: 1c2d0000-0000-0000-0000-000000000000\tDuration: 1.0 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 98 MB\t\nXRAY TraceId: 1-5d83c0ad-b8eb33a0b1de97d804fac890\tSegmentId: 31255c3b19bd3637\tSampled: true",
    );
    assert_eq!(r.max_memory_used_mb, Some(98));
}

#[test]
fn new_style_status_and_error_type_with_spaces_or_newlines() {
    let r = report(
        "REPORT RequestId: 1c2d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n",
    );
    assert_eq!(r.status, Some(Status::Error));
    assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
    assert!(r.at_memory_limit());
    let r = report(
        "REPORT RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda Duration: 3016.78 ms Billed Duration: 3101 ms Memory Size: 128 MB Max Memory Used: 31 MB Init Duration: 84.00 ms Status: timeout",
    );
    assert_eq!(r.status, Some(Status::Timeout));
    assert_eq!(r.init_duration_ms, Some(84.0));
    // Pasted one field per line (DataDog/datadog-lambda-extension#1237).
    let r = report(
        "REPORT RequestId: 514789fd-5e24-49c5-a41c-24c049a36e2a\nDuration: 180000.00 ms\nBilled Duration: 180000 ms\nMemory Size: 192 MB\nMax Memory Used: 192 MB\nStatus: timeout",
    );
    assert_eq!((r.memory_size_mb, r.max_memory_used_mb, r.status), (Some(192), Some(192), Some(Status::Timeout)));
}

#[test]
fn init_and_restore_reports() {
    assert_eq!(
        parse("INIT_REPORT Init Duration: 9999.79 ms    Phase: init    Status: timeout"),
        Some(PlatformRecord::InitReport {
            phase: Some(InitPhase::Init),
            status: Some(Status::Timeout),
            error_type: None,
            init_duration_ms: Some(9999.79)
        })
    );
    assert_eq!(
        parse("INIT_REPORT Phase: invoke  Status: error  Error Type: Extension.Crash"),
        Some(PlatformRecord::InitReport {
            phase: Some(InitPhase::Invoke),
            status: Some(Status::Error),
            error_type: Some("Extension.Crash".into()),
            init_duration_ms: None
        })
    );
    assert_eq!(
        parse("RESTORE_REPORT Restore Duration: 1236.04 ms Status: error Error Type: Runtime.ExitError"),
        Some(PlatformRecord::RestoreReport {
            status: Some(Status::Error),
            error_type: Some("Runtime.ExitError".into()),
            restore_duration_ms: Some(1236.04)
        })
    );
    assert_eq!(
        parse(
            "INIT_START Runtime Version: python:3.12.mainlinev2.v7\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:2b83"
        ),
        Some(PlatformRecord::InitStart)
    );
}

#[test]
fn start_and_end_with_tab_or_space_before_version() {
    assert_eq!(
        parse("START RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Version: $LATEST\n"),
        Some(PlatformRecord::Start { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
    );
    assert_eq!(
        parse("START RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1\tVersion: $LATEST"),
        Some(PlatformRecord::Start { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
    );
    assert_eq!(
        parse("END RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1\n"),
        Some(PlatformRecord::End { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
    );
}

#[test]
fn old_style_failure_lines() {
    assert_eq!(
        parse("2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out after 3.00 seconds"),
        Some(PlatformRecord::TaskTimedOut {
            request_id: Some("b70435cc-261c-4438-b9b6-efe4c8f04b21".into()),
            seconds: 3.0
        })
    );
    // A copy that lost a line break: the next line glued to the unit (curl's marker, a time).
    for glued in [
        "Task timed out after 1.00 seconds* Closing connection 0",
        "Task timed out after 1.00 seconds1:03:58 PM: c5f1b177",
    ] {
        assert_eq!(parse(glued), Some(PlatformRecord::TaskTimedOut { request_id: None, seconds: 1.0 }), "{glued}");
    }
    assert_eq!(
        parse("2020-06-09T15:02:26.150Z 7c9567b5-107b-4a6c-8798-0157ac21db52 Task timed out after 3.00 seconds\n\n"),
        Some(PlatformRecord::TaskTimedOut {
            request_id: Some("7c9567b5-107b-4a6c-8798-0157ac21db52".into()),
            seconds: 3.0
        })
    );
    assert_eq!(
        parse(
            "RequestId: 2ea49a23-ff39-4bf5-8761-439f99b7c5f6 Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n"
        ),
        Some(PlatformRecord::RuntimeExited {
            request_id: Some("2ea49a23-ff39-4bf5-8761-439f99b7c5f6".into()),
            reason: "signal: killed".into()
        })
    );
    assert_eq!(
        parse(
            "RequestId: 89894b68-4c17-4ea6-b6e6-91bca83ae5b1 Error: Runtime exited with error: signal: segmentation fault (core dumped) Runtime.ExitError"
        ),
        Some(PlatformRecord::RuntimeExited {
            request_id: Some("89894b68-4c17-4ea6-b6e6-91bca83ae5b1".into()),
            reason: "signal: segmentation fault (core dumped)".into()
        })
    );
    assert_eq!(
        parse(
            "RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Error: Runtime exited without providing a reason\nRuntime.ExitError"
        ),
        Some(PlatformRecord::RuntimeExited {
            request_id: Some("c3252230-c73d-49f6-8844-968c01d1e2e1".into()),
            reason: "without providing a reason".into()
        })
    );
    assert_eq!(
        parse("RequestId: b86c93c6-e1d0-11e7-955b-539d8b965ff9 Process exited before completing request"),
        Some(PlatformRecord::ProcessExited { request_id: Some("b86c93c6-e1d0-11e7-955b-539d8b965ff9".into()) })
    );
}

#[test]
fn the_anchor_pass_looks_for_the_phrases_this_parser_reads() {
    assert_eq!(PHRASES.iter().map(|(text, _)| *text).collect::<Vec<_>>(), crate::rules::PLATFORM_PHRASES);
}

#[test]
fn platform_phrases_after_the_prefixes_runtimes_and_tools_print() {
    let timed_out = |line: &str| match parse(line) {
        Some(PlatformRecord::TaskTimedOut { request_id, seconds }) => Some((request_id, seconds)),
        _ => None,
    };
    assert_eq!(timed_out("Task timed out after 12.34 seconds"), Some((None, 12.34)));
    assert_eq!(timed_out("2025-02-03T04:05:06.789Z  Task timed out after 20.02 seconds"), Some((None, 20.02)));
    assert_eq!(timed_out("2025-02-03T04:05:06.789Z\tundefined\tTask timed out after 6.01 seconds"), Some((None, 6.01)));
    // Netlify's function log: its time, the id's first eight digits and the level
    // (openai/openai-assistants-quickstart#24).
    assert_eq!(
        timed_out("Jun 8, 12:12:43 AM: 00634a06 ERROR  Task timed out after 10.03 seconds"),
        Some((None, 10.03))
    );
    // A month is part of Netlify's stamp, not a prefix of its own.
    assert_eq!(timed_out("May Task timed out after 3.00 seconds"), None);
    // `sam logs` and `aws logs tail` put the log stream and their own time first.
    assert_eq!(
        timed_out(
            "2019/07/18/[$LATEST]94fa87 2019-07-18T18:58:22.286000 b5264ab7-2056-4f5b-bb0f-a06a70f6205d Task timed out after 30.03 seconds"
        ),
        Some((Some("b5264ab7-2056-4f5b-bb0f-a06a70f6205d".into()), 30.03))
    );
    assert_eq!(
        timed_out("[ERROR] RequestId: 0f0e0d0c-0b0a-4990-8887-766554433221 Error: Task timed out after 1.00 seconds"),
        Some((Some("0f0e0d0c-0b0a-4990-8887-766554433221".into()), 1.0))
    );
    assert_eq!(
        parse("Error: Runtime exited with error: signal: killed Runtime.ExitError"),
        Some(PlatformRecord::RuntimeExited { request_id: None, reason: "signal: killed".into() })
    );
    assert_eq!(
        parse("2023-05-01T10:00:00.000Z ERROR Runtime exited with error: exit status 137"),
        Some(PlatformRecord::RuntimeExited { request_id: None, reason: "exit status 137".into() })
    );
    match parse(
        "2024-03-04T17:22:38.033000+00:00 2024/03/04/[$LATEST]94fa REPORT RequestId: 1c2d0000-0000-0000-0000-000000000000\tDuration: 1.0 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB",
    ) {
        Some(PlatformRecord::Report(r)) => assert!(r.at_memory_limit()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_report_copied_without_its_head() {
    let r = report(
        "Duration: 3003.45 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout",
    );
    assert_eq!((r.request_id, r.max_memory_used_mb, r.status), (None, Some(128), Some(Status::Timeout)));
    let r = report(
        "2024-03-04T17:22:38.033Z Duration: 12.0 ms Billed Duration: 12 ms Memory Size: 256 MB Max Memory Used: 80 MB",
    );
    assert_eq!(r.memory_size_mb, Some(256));
}

#[test]
fn applications_quoting_platform_phrases_are_not_platform_records() {
    for line in [
        "INFO upstream call: Task timed out after 3.00 seconds, retrying",
        "Task timed out after 3.00 seconds means the function hit its limit",
        "Task timed out after 3.00 seconds, retrying",
        "Task timed out after 3.00 seconds; retrying",
        "ERROR:root:handler said Task timed out after 3 seconds",
        "2024-03-04T17:22:38.033Z INFO the docs say: Runtime exited with error: signal: killed is a kill",
        "INFO stats Max Memory Used: 72 MB",
        "DEBUG Memory Size: 128 MB Max Memory Used: 72 MB",
        "we log REPORT RequestId: lines to S3",
    ] {
        assert_eq!(parse(line), None, "{line}");
    }
}

#[test]
fn json_platform_records() {
    let r = report(
        r#"{"time":"2024-12-30T23:20:29.823Z","type":"platform.report","record":{"requestId":"671dc475-78c6-416b-b7ac-56b52940dd13","metrics":{"durationMs":32973.233,"billedDurationMs":32974,"memorySizeMB":128,"maxMemoryUsedMB":125},"status":"error","errorType":"Runtime.OutOfMemory"}}"#,
    );
    assert_eq!((r.memory_size_mb, r.max_memory_used_mb), (Some(128), Some(125)));
    assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
    assert_eq!(
        parse(
            r#"{"time":"2026-07-09T06:05:50.562Z","type":"platform.runtimeDone","record":{"requestId":"aec7a529-47f9-4090-be01-c9ed91bf83cf","status":"timeout","metrics":{"durationMs":5001.182,"producedBytes":0}}}"#
        ),
        Some(PlatformRecord::RuntimeDone {
            request_id: Some("aec7a529-47f9-4090-be01-c9ed91bf83cf".into()),
            status: Some(Status::Timeout),
            error_type: None
        })
    );
    assert_eq!(
        parse(
            r#"{"time":"2024-06-17T17:48:06.348Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"timeout","metrics":{"durationMs":10000.487}}}"#
        ),
        Some(PlatformRecord::InitReport {
            phase: Some(InitPhase::Init),
            status: Some(Status::Timeout),
            error_type: None,
            init_duration_ms: Some(10000.487)
        })
    );
    assert_eq!(
        parse(
            r#"{"type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ImportModuleError"}}"#
        ),
        Some(PlatformRecord::InitReport {
            phase: Some(InitPhase::Init),
            status: Some(Status::Error),
            error_type: Some("Runtime.ImportModuleError".into()),
            init_duration_ms: None
        })
    );
}

#[test]
fn application_lines_are_not_platform_records() {
    for line in [
        r#"{"timestamp":"2024-05-20T16:29:45.009Z","level":"INFO","requestId":"4b142fc3-17b8-4cdb-a46b-a8dbe7918715","message":"ENV 2024-05-20T16:29:42.891Z"}"#,
        r#"{"type":"platform.somethingNew","record":{}}"#,
        "2024-03-04T17:22:38.033Z INFO the upstream said: Task timed out after 3.00 seconds",
        "REPORTING is enabled",
        "STARTED worker",
        "",
        "{not json \"platform.report\"",
    ] {
        assert_eq!(parse(line), None, "{line}");
    }
}

#[test]
fn never_panics_on_truncated_lines() {
    for line in [
        "START ",
        "END",
        "REPORT ",
        "RequestId:",
        "RequestId: x Error: Runtime exited",
        "INIT_REPORT",
        "RESTORE_REPORT",
        "x Task timed out after ",
        "Task timed out after x seconds",
    ] {
        let _ = parse(line);
    }
}

#[test]
fn the_emulators_fields_and_sandbox_timedout() {
    assert_eq!(
        parse(
            "time=\"2021-03-04T10:00:32.36\" level=warning msg=\"Process 13(bootstrap) exited: Runtime exited with error: signal: killed\""
        ),
        Some(PlatformRecord::RuntimeExited { request_id: None, reason: "signal: killed".into() })
    );
    assert_eq!(
        parse("Invoke failed error=Runtime exited with error: signal: segmentation fault InvokeID=76ea8eec"),
        Some(PlatformRecord::RuntimeExited {
            request_id: None,
            reason: "signal: segmentation fault InvokeID=76ea8eec".into()
        })
    );
    assert_eq!(
        parse("  unhandledErrorType : \"Sandbox.Timedout\","),
        Some(PlatformRecord::RuntimeDone {
            request_id: None,
            status: Some(Status::Timeout),
            error_type: Some("Sandbox.Timedout".into())
        })
    );
    assert_eq!(parse("INFO we map Sandbox.Timedout to a 504"), None);
    // aws/aws-appsync-community#386: AppSync's error for a Lambda resolver that timed out.
    assert_eq!(
        parse(
            "{\n  unhandledErrorType : null,\n  message : \"Execution timed out.\",\n  type : \"Lambda:ExecutionTimeoutException\"\n}"
        ),
        Some(PlatformRecord::RuntimeDone {
            request_id: None,
            status: Some(Status::Timeout),
            error_type: Some("Lambda:ExecutionTimeoutException".into())
        })
    );
    assert_eq!(parse("INFO resolvers retry on Lambda:ExecutionTimeoutException"), None);
}

#[test]
fn a_timeout_followed_by_an_emulators_logfmt_fields_is_still_a_timeout() {
    let timed_out = |line: &str| match parse(line) {
        Some(PlatformRecord::TaskTimedOut { request_id, seconds }) => Some((request_id, seconds)),
        _ => None,
    };
    // ashiina/lambda-local#173: Node's `uncaughtException:` label, winston's fields after it.
    assert_eq!(
        timed_out(
            "uncaughtException: Task timed out after 3.00 seconds date=Mon Jan 07 2019 10:02:17 GMT+0000 (UTC), pid=17229"
        ),
        Some((None, 3.0))
    );
    assert_eq!(timed_out("INFO upstream: Task timed out after 3.00 seconds attempt=2"), None);
    assert_eq!(timed_out("Task timed out after 3.00 seconds, retrying with attempt=2"), None);
}

#[test]
fn a_viewers_words_before_lambdas_own_stamp_and_api_gateways_quote() {
    let timed_out = |line: &str| matches!(parse(line), Some(PlatformRecord::TaskTimedOut { .. }));
    assert!(timed_out(
        "  6:55:25am INFO 2017-10-30T08:55:46.064Z 137f9168-bd50-11e7-973f-2f07cefa3cfe Task timed out after 18.02 seconds"
    ));
    assert!(timed_out(
        "Lambda execution failed with status 200 due to customer function error: 2021-04-2... 593a3a89-???? Task timed out after 10.01 seconds. Lambda request id: ??-????-914d"
    ));
    // Still an application's own words.
    assert!(!timed_out("INFO upstream replied: Task timed out after 3.00 seconds, retrying"));
    assert!(!timed_out(
        "2024-03-04T17:22:38.033Z INFO the docs say: Task timed out after 3.00 seconds means the limit"
    ));
}

#[test]
fn figures_that_are_not_numbers_are_left_out() {
    let r = report(
        "REPORT RequestId: 6234bffe-149a\tDuration: NaN ms\tBilled Duration: inf ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: -inf ms",
    );
    assert_eq!((r.duration_ms, r.init_duration_ms), (None, None));
    assert_eq!(r.memory_size_mb, Some(128));
    for line in [
        "Task timed out after NaN seconds",
        "Task timed out after inf seconds",
        "Task timed out after -infinity seconds",
    ] {
        assert_eq!(parse(line), None, "{line}");
    }
}

/// The runtime interface emulator (`sam local invoke`) puts Init Duration first and reports
/// Max Memory Used equal to Memory Size: that figure measures nothing.
#[test]
fn the_emulators_report_has_no_memory_figure() {
    let r = report(
        "REPORT RequestId: b046db01-2a00-415d-af97-35f3a02e9eb6    Init Duration: 1.01 ms    Duration: 633.45 ms    Billed Duration: 634 ms    Memory Size: 128 MB    Max Memory Used: 128 MB",
    );
    assert_eq!((r.memory_size_mb, r.max_memory_used_mb, r.init_duration_ms), (Some(128), None, Some(1.01)));
    // Lambda's own order keeps the figure.
    let r = report(
        "REPORT RequestId: b046db01\tDuration: 633.45 ms\tBilled Duration: 634 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 1.01 ms",
    );
    assert_eq!(r.max_memory_used_mb, Some(128));
}

/// A line that repeats a platform phrase thousands of times after a prefix is read in time
/// linear in its length: only the first phrases of a message are tried.
#[test]
fn a_phrase_repeated_thousands_of_times_is_tried_a_bounded_number_of_times() {
    let hostile = format!("x {}", "Task timed out after ".repeat(12_000));
    assert_eq!(parse(&hostile), None);
    // A real record among the first phrases is still read.
    let real = format!(
        "2024-03-04T17:22:38.033Z b70435cc-261c Task timed out after 3.00 seconds\nx {}",
        "Task timed out after ".repeat(12_000)
    );
    assert!(matches!(parse(&real), Some(PlatformRecord::TaskTimedOut { .. })));
}
