//! The `troubleshooter` command line, run as a user runs it: scan every input kind, print for
//! people or as JSON lines, exit 0 with or without findings, fail clearly on unreadable input.
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn troubleshooter(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_troubleshooter"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TOPIC_ARN")
        .env_remove("MIN_SEVERITY")
        .env_remove("DISABLED_RULES")
        .env_remove("EXTRA_RULES_FILE")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let (Some(bytes), Some(mut input)) = (stdin, child.stdin.take()) {
        // The command may reject its arguments and exit before reading: a broken pipe here
        // is that, and the assertions on its exit status and message say whether it is right.
        let _ = input.write_all(bytes);
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn scan_prints_what_a_person_needs() {
    let out = troubleshooter(&["scan", "events/mixed-batch.json"], None);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("[CRITICAL] Lambda function ran out of memory — orders-api (1x)"), "{text}");
    assert!(text.contains("What happened: orders-api ran out of memory: used 256 of 256 MB"), "{text}");
    assert!(text.contains("Fix:\n    1. Raise MemorySize from 256 MB to 512 MB"), "{text}");
    assert!(text.contains("[HIGH] Lambda function timed out — orders-api (1x)"), "{text}");
    // The summary: the totals, the time the events cover, the table by kind, the functions.
    let summary = &text[text.find("\nSummary: ").expect("a summary") + 1..];
    assert!(summary.starts_with("Summary: 3 findings, 3 occurrences, in 25 log events.\n"), "{summary}");
    assert!(
        summary.contains("Time span: 2024-03-04T17:22:38.000Z to 2024-03-04T17:25:20.021Z (2 min 42 s).\n"),
        "{summary}"
    );
    assert!(summary.contains("\n  out_of_memory         critical         1            1\n"), "{summary}");
    assert!(summary.contains("\n  timeout               high             1            1\n"), "{summary}");
    assert!(
        summary.contains("Top functions:\n  function    findings  occurrences\n  orders-api         3            3\n")
    );
}

#[test]
fn scan_json_prints_one_finding_per_line() {
    let out = troubleshooter(&["scan", "--format", "json", "events/kinesis-mixed.json"], None);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|f| f["schema"] == "lambda-troubleshooter/finding/v1"));
    // No summary in JSON, on stdout or stderr: one finding per line and nothing else.
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn plain_text_from_stdin_and_filter_log_events_output() {
    let log = b"START RequestId: b70435cc-261c-4438-b9b6-efe4c8f04b21 Version: $LATEST\n2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out after 3.00 seconds\n";
    let out = troubleshooter(&["scan", "--format", "json", "--log-group", "/aws/lambda/api", "-"], Some(log));
    assert!(out.status.success());
    let finding: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(finding["rule_id"], "lambda-timeout");
    assert_eq!(finding["function"], "api");

    let filtered = br#"{"events":[{"logStreamName":"2024/03/04/[$LATEST]abc","timestamp":1709572958033,"message":"[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'daily'\n","ingestionTime":1709572958100,"eventId":"37"}],"searchedLogStreams":[]}"#;
    let out = troubleshooter(&["scan", "--format", "json", "--log-group", "/aws/lambda/daily", "-"], Some(filtered));
    let finding: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(finding["rule_id"], "lambda-import-module-error");
    assert_eq!(finding["log_stream"], "2024/03/04/[$LATEST]abc");
    assert_eq!(finding["event_ids"], serde_json::json!(["37"]));
}

#[test]
fn nothing_found_is_still_success() {
    let out = troubleshooter(&["scan", "events/control-message.json"], None);
    assert!(out.status.success());
    assert!(stdout(&out).contains("No problems found in 1 log event."));
    let out = troubleshooter(&["scan", "--format", "json", "-"], Some(b"INFO all good\n"));
    assert!(out.status.success());
    assert!(stdout(&out).is_empty());
}

#[test]
fn unreadable_input_fails_with_a_clear_message() {
    // Exit codes from sysexits.h: 65 bad input data, 66 no input, 2 usage.
    for (args, stdin, expected, code) in [
        (vec!["scan", "events/corrupt-batch.json"], None, "awslogs.data is not gzip", 65),
        // The bytes that are there beside gzip's magic, in hex as a person compares them.
        (
            vec!["scan", "-"],
            Some(&br#"{"awslogs": {"data": "aGVsbG8="}}"#[..]),
            "awslogs.data is not gzip data: it starts with 68 65 6c 6c, gzip starts with 1f 8b",
            65,
        ),
        (vec!["scan", "no/such/file.json"], None, "cannot read no/such/file.json", 66),
        (vec!["scan", "-"], Some(&[0xffu8, 0xfe, 0x00][..]), "not UTF-8", 65),
        (vec!["scan", "-"], Some(&b"{\"unexpected\": true}"[..]), "unrecognised JSON input", 65),
        (vec!["scan", "--min-severity", "urgent", "-"], Some(&b"x"[..]), "--min-severity", 2),
    ] {
        let out = troubleshooter(&args, stdin);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("troubleshooter: ") && err.contains(expected), "{args:?}: {err}");
    }
}

/// Input a person gives by hand that is not whole (half an event, a cut gzip, a
/// Kinesis event with one record that is no CloudWatch Logs document, an empty file) is an
/// error naming what is wrong, exit 65, and no finding is printed as if the input were whole.
#[test]
fn partial_input_is_an_error_and_prints_no_finding() {
    use base64::Engine as _;
    let whole = std::fs::read("events/mixed-batch.json").unwrap();
    let mut half_event = whole[..whole.len() / 2].to_vec();
    half_event.push(b'\n');
    let gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&whole).unwrap();
        encoder.finish().unwrap()
    };
    let cut_gzip = gzip[..gzip.len() / 2].to_vec();
    let mut kinesis: serde_json::Value =
        serde_json::from_slice(&std::fs::read("events/kinesis-mixed.json").unwrap()).unwrap();
    let records = kinesis["Records"].as_array_mut().unwrap();
    let mut poison = records[0].clone();
    poison["kinesis"]["data"] = base64::engine::general_purpose::STANDARD.encode(b"not a log document").into();
    poison["kinesis"]["sequenceNumber"] = "4999".into();
    records.push(poison);
    let poisoned = serde_json::to_vec(&kinesis).unwrap();
    for (input, expected) in [
        (
            &br#"{"awslogs": {"data": "H4sIAAAA"#[..],
            "starts like JSON but is not valid JSON: EOF while parsing a string at line 1, column 30 (the input ends there: was it cut short?)",
        ),
        (&half_event[..], "(the input ends there: was it cut short?)"),
        (&cut_gzip[..], "gzip data is corrupt or truncated"),
        (&poisoned[..], "Kinesis record 4999: "),
        (&b""[..], "the input is empty"),
    ] {
        for format in ["text", "json"] {
            let out = troubleshooter(&["scan", "--format", format, "-"], Some(input));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(65), "{expected}: {err}");
            assert!(err.contains(expected), "expected {expected:?} in {err}");
            assert!(out.stdout.is_empty(), "{expected}: printed {}", stdout(&out));
        }
    }
    // The same event whole: findings, so the failures above are the cuts, not the events.
    let out = troubleshooter(&["scan", "--format", "json", "-"], Some(&whole));
    assert_eq!(stdout(&out).lines().count(), 3);
}

#[test]
fn encode_makes_an_event_that_scans_to_the_same_finding() {
    let log = b"REPORT RequestId: 1c2d\\tDuration: 812.40 ms\\tBilled Duration: 813 ms\\tMemory Size: 256 MB\\tMax Memory Used: 256 MB\\tStatus: error\\tError Type: Runtime.OutOfMemory\n";
    let out = troubleshooter(&["encode", "--unescape", "--log-group", "/aws/lambda/orders-api", "-"], Some(log));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let event = out.stdout;
    let data = serde_json::from_slice::<serde_json::Value>(&event).unwrap();
    assert!(data["awslogs"]["data"].as_str().unwrap().starts_with("H4sI"));
    let out = troubleshooter(&["scan", "--format", "json", "-"], Some(&event));
    let finding: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(finding["rule_id"], "lambda-out-of-memory");
    assert_eq!(finding["details"]["max_memory_used_mb"], 256);
}

/// Input that is not text ends at once with a clear error: `/dev/zero` gives NUL bytes forever.
#[test]
fn scan_of_dev_zero_ends_with_a_clear_error() {
    let out = troubleshooter(&["scan", "/dev/zero"], None);
    assert_eq!(out.status.code(), Some(65));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("/dev/zero line 1 is not text (a NUL byte)"), "{error}");
}

/// A line longer than CloudWatch Logs' event limit is cut, with a warning, and the lines after
/// it are read.
#[test]
fn a_line_over_the_event_limit_is_cut_and_the_rest_is_read() {
    let mut text = "x".repeat(600_000);
    text.push_str(
        "\n2026-12-01T10:00:00.000Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out after 3.00 seconds\n",
    );
    let out = troubleshooter(&["scan", "-"], Some(text.as_bytes()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin line 1: longer than 262144 bytes"));
    assert!(stdout(&out).contains("[HIGH] Lambda function timed out"), "{}", stdout(&out));
}

/// A saved event larger than any batch is refused with the limit named, without reading it all.
#[test]
fn a_saved_event_over_the_decompression_cap_is_refused() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("huge-event.json");
    std::fs::write(&path, format!("{{\"awslogs\":{{\"data\":\"{}\"}}}}", "A".repeat(400_000))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_troubleshooter"))
        .args(["scan", path.to_str().unwrap()])
        .env("MAX_DECOMPRESSED_BYTES", "300000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("is a saved event or document over 300000 bytes (MAX_DECOMPRESSED_BYTES)"), "{error}");
}

/// Log lines are read a chunk at a time: more than one chunk's worth is read whole and counted.
#[test]
fn log_lines_beyond_one_chunk_are_all_read() {
    let line = "2026-12-01T10:00:00.000Z\t8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tINFO\tprocessing order 12345 for customer acme, nothing wrong here at all\n";
    let lines = 17 * 1024 * 1024 / line.len() + 1;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("two-chunks.log");
    std::fs::write(&path, line.repeat(lines)).unwrap();
    let out = troubleshooter(&["scan", path.to_str().unwrap()], None);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with(&format!("No problems found in {lines} log events.")), "{}", stdout(&out));
}

/// Papercuts a new user meets: a JSON array is not a log (as `{"foo":1}` is not), a pipe
/// closed early is a quiet success, and counts read as English.
#[test]
fn a_json_array_is_not_a_log_and_a_closed_pipe_is_a_quiet_success() {
    for input in [&b"[1,2,3]"[..], &b"{\"foo\":1}"[..]] {
        let out = troubleshooter(&["scan", "-"], Some(input));
        assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(input));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognised JSON input"));
    }
    let out = troubleshooter(&["scan", "-"], Some(b"[INFO] a log line in brackets\n"));
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("No problems found in 1 log event.\n"), "{}", stdout(&out));
    // `scan … | head -1`: the reader closes the pipe after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_troubleshooter"))
        .args(["scan", "events/mixed-batch.json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A bare `scan` typed on a terminal says what it wants instead of waiting silently for input
/// that is not coming (exit 2); `-` on a terminal reads what is typed, and says how to end it.
/// `script` gives the command a terminal as its stdin.
#[test]
fn a_bare_scan_on_a_terminal_says_what_it_wants() {
    let bin = env!("CARGO_BIN_EXE_troubleshooter");
    let on_terminal = |command: &str| {
        Command::new("script")
            .args(["-qec", command, "/dev/null"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // `timeout`: without the hint, the command would wait for the terminal for ever.
    let out = on_terminal(&format!("timeout 20 {bin} scan"));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("troubleshooter: no input: give a file (troubleshooter scan events/mixed-batch.json)"),
        "{said}"
    );
    // Piped input is read as before, terminal or not.
    let out = troubleshooter(&["scan"], Some(b"INFO all good\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // `-` on a terminal reads what is typed there, after saying how to end it: a line, then
    // Ctrl-D, typed into the terminal `script` gives it.
    let typed = Command::new("sh")
        .arg("-c")
        .arg(format!("(sleep 1; printf 'INFO all good\\n\\004') | timeout 20 script -qec '{bin} scan -' /dev/null"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&typed.stdout);
    assert!(typed.status.success(), "{said}");
    assert!(said.contains("troubleshooter: reading log lines from the terminal; end with Ctrl-D"), "{said}");
    assert!(said.contains("No problems found in 1 log event."), "{said}");
}
