//! Tests of `ingest::input`.

use super::*;

fn origin() -> Origin {
    Origin {
        log_group: "/aws/lambda/orders-api".into(),
        log_stream: "2024/03/04/[$LATEST]94fa".into(),
        owner: "123456789012".into(),
        base_timestamp_ms: 1_709_572_958_033,
    }
}

#[test]
fn encode_then_read_round_trips() {
    let event = encode_awslogs_event(
        "START RequestId: a-1 Version: $LATEST\n\n2024-03-04T17:22:40.000Z a-1 Task timed out after 3.00 seconds\n",
        &origin(),
    )
    .unwrap();
    let batches = read_batches(event.to_string().as_bytes(), &origin(), 1 << 20).unwrap();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.log_group, "/aws/lambda/orders-api");
    assert_eq!(batch.log_events.len(), 2);
    assert_eq!(batch.log_events[0].timestamp, 1_709_572_958_033);
    assert_eq!(batch.log_events[1].timestamp, 1_709_572_960_000);
    assert_eq!(batch.log_events[1].id.len(), 56);
}

#[test]
fn unescape_and_kinesis_events() {
    assert_eq!(unescape(r"a\tb\nc\\d\x"), "a\tb\nc\\d\\x");
    let batch = messages_batch(vec![unescape(r"REPORT RequestId: x\nXRAY")], &origin());
    let event = encode_event(batch, ingest::DATA_MESSAGE, EventKind::Kinesis).unwrap();
    let batches = read_batches(event.to_string().as_bytes(), &origin(), 1 << 20).unwrap();
    assert_eq!(batches[0].log_events[0].message, "REPORT RequestId: x\nXRAY\n");
}

#[test]
fn filter_log_events_output_is_split_by_stream() {
    let json = r#"{"events":[{"logStreamName":"s2","timestamp":2,"message":"b","eventId":"2"},{"logStreamName":"s1","timestamp":1,"message":"a","eventId":"1"},{"logStreamName":"s2","timestamp":1,"message":"c","eventId":"3"}],"searchedLogStreams":[]}"#;
    let batches = read_batches(json.as_bytes(), &origin(), 1 << 20).unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].log_stream, "s2");
    assert_eq!(batches[0].log_events.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["c", "b"]);
}

#[test]
fn documents_plain_text_and_errors() {
    let doc = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1600110003794,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    assert!(read_batches(doc.as_bytes(), &origin(), 1 << 20).unwrap()[0].is_control_message());
    let text = read_batches(b"just a line\nanother", &origin(), 1 << 20).unwrap();
    assert_eq!(text[0].log_events.len(), 2);
    assert!(matches!(read_batches(b"{\"other\":1}", &origin(), 1 << 20), Err(InputError::UnknownJson)));
    assert!(matches!(read_batches(&[0xff, 0xfe], &origin(), 1 << 20), Err(InputError::NotText(_))));
    let err = read_batches(br#"{"awslogs":{"data":"H4sI"}}"#, &origin(), 1 << 20).unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");
}

/// Half an event is an error that says where it broke, never "no problems".
#[test]
fn json_cut_short_is_an_error_saying_where() {
    for cut in [
        &br#"{"awslogs": {"data": "H4sIAAAA"#[..],
        b"{\"awslogs\": {\"data\": \"H4sIAAAA\n",
        b"{\n  \"messageType\": \"DATA_MESSAGE\",\n  \"logEvents\": [\n    {\"id\": \"1\", \"timestamp\": 1, \"message\": \"Task timed out",
        br#"{"Records":[{"kinesis":{"data":"H4sI"}}"#,
        br#"[{"timestamp": 1, "message": "x"}"#,
    ] {
        let err = read_batches(cut, &origin(), 1 << 20).unwrap_err();
        let InputError::BrokenJson { truncated, line, .. } = &err else { panic!("{err}") };
        assert!(*truncated, "{err}");
        assert!(*line >= 1);
        let text = err.to_string();
        assert!(text.contains("at line") && text.contains("cut short"), "{text}");
    }
    // Damaged in the middle: where, and not called cut short.
    let err = read_batches(br#"{"awslogs": {"data" "H4sI"}}"#, &origin(), 1 << 20).unwrap_err();
    assert!(matches!(err, InputError::BrokenJson { line: 1, column: 21, truncated: false, .. }), "{err}");
    assert!(err.to_string().contains("expected `:`"), "{err}");
}

/// Text that merely begins with a brace, and JSON lines (even with a damaged first record),
/// stay log lines; white space alone is an error.
#[test]
fn plain_text_stays_text_and_empty_input_is_an_error() {
    for text in [
        &b"{ERROR} payment failed\nnext line"[..],
        b"{timestamp} 2024 Task timed out after 3.00 seconds",
        b"[2024-03-04 17:22:40] ERROR boom",
        b"{\"level\":\"ERROR\",\"msg\":\"a\"}\n{\"level\":\"ERROR\",\"msg\":\"b\"}\n",
        b"{\"level\":\"ERROR\",\"msg\":\"cut at 256 KB\n{\"level\":\"ERROR\",\"msg\":\"b\"}\n",
    ] {
        let batches = read_batches(text, &origin(), 1 << 20).unwrap();
        assert!(!batches[0].log_events.is_empty(), "{}", String::from_utf8_lossy(text));
    }
    for empty in [&b""[..], b"  \n\n\t"] {
        assert!(matches!(read_batches(empty, &origin(), 1 << 20), Err(InputError::Empty)));
    }
}
