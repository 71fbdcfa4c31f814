//! Tests of `ingest::document`.

use super::*;

fn serde(text: &str) -> Option<LogBatch> {
    serde_json::from_str(&without_lone_surrogates(text)).ok()
}

/// The fast reader's answer, where it has one, is serde's.
fn agrees(text: &str) -> Option<LogBatch> {
    let fast = read(text.as_bytes().to_vec());
    if let Some(batch) = &fast {
        assert_eq!(Some(batch), serde(text).as_ref(), "{text}");
    }
    fast
}

const DOC: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/echo","logStream":"2019/03/13/[$LATEST]94fa","subscriptionFilters":["a","b"],"policyLevel":"ACCOUNT_LEVEL_POLICY","logEvents":[{"id":"346","timestamp":1552518348220,"message":"REPORT RequestId: 6234\tDuration: 46.84 ms\n"},{"timestamp":-3,"message":"{\"level\":\"ERROR\",\"msg\":\"caf\u00e9 \ud83d\ude00 \\ \/ \b\f\r\"}\n","id":""}]}"#;

/// One lone surrogate (a UTF-16 string cut in half) no longer refuses the whole batch: it
/// is U+FFFD, in the fast reader and in serde's answer alike.
#[test]
fn a_lone_surrogate_is_the_replacement_character() {
    for (escaped, expected) in [
        (r#"\ud800"#, "\u{fffd}"),
        (r#"\udc00\ud800 x"#, "\u{fffd}\u{fffd} x"),
        (r#"a\ud83d b \ud83d\ude00"#, "a\u{fffd} b 😀"),
        (r#"\ud800\n"#, "\u{fffd}\n"),
    ] {
        let text = format!(r#"{{"messageType":"D","logEvents":[{{"timestamp":1,"message":"{escaped}"}}]}}"#);
        let batch = agrees(&text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(batch.log_events[0].message, expected, "{text}");
        // serde, given a pristine copy when the fast reader declines, reads it the same way.
        assert_eq!(
            crate::ingest::parse_document(text.clone().into_bytes(), || Ok(text.clone().into_bytes())).ok(),
            Some(batch)
        );
    }
    assert!(matches!(without_lone_surrogates("plain \\u00e9"), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn reads_what_serde_reads() {
    let batch = agrees(DOC).unwrap();
    assert_eq!(batch.log_events.len(), 2);
    assert_eq!(batch.log_events[1].message, "{\"level\":\"ERROR\",\"msg\":\"café 😀 \\ / \u{8}\u{c}\r\"}\n");
    assert_eq!(batch.log_events[0].message, "REPORT RequestId: 6234\tDuration: 46.84 ms\n");
    assert_eq!(batch.log_events[0].id, "346");
    assert_eq!(batch.log_events[1].id, "");
    let spaced = " {\n \"logEvents\" : [ { \"timestamp\" : 0 , \"message\" : \"\" } ] , \"policyLevel\" : null, \"messageType\":\"DATA_MESSAGE\" }\n";
    assert_eq!(agrees(spaced).unwrap().log_events[0].id, "");
    assert!(agrees(r#"{"messageType":"CONTROL_MESSAGE","logEvents":[],"subscriptionFilters":[]}"#).is_some());
}

/// Each id and message is unescaped as serde does: escapes of every length (two, six and
/// twelve bytes) at the start, the middle and the end, runs of them, and text without any.
#[test]
fn unescapes_in_place_as_serde_does() {
    let strings = [
        r#"plain text, no escape"#,
        r#"\n"#,
        r#"\t[ERROR]\t2024\tid\tboom\n"#,
        r#"{\"a\":\"b\"}\n"#,
        r#"\u00e9t\u00e9 \ud83d\ude00\ud83d\ude00 fin\u20ac"#,
        r#"caf\u00e9"#,
        r#"\\\\\\"#,
        r#"a\/b\bc\fd\re"#,
        r#"ümlaut \"quoted\" ü"#,
        "",
    ];
    let events: Vec<String> = strings
        .iter()
        .enumerate()
        .map(|(n, text)| format!(r#"{{"id":"{text}","timestamp":{n},"message":"{text}"}}"#))
        .collect();
    let document = format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[{}]}}"#, events.join(","));
    let batch = agrees(&document).unwrap();
    for (event, text) in batch.log_events.iter().zip(strings) {
        let expected: String = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(event.message, expected, "{text}");
        assert_eq!(event.id, expected, "{text}");
    }
}

/// Every awslogs event in `events/`, as CloudWatch Logs writes them, takes the fast path.
#[test]
fn reads_every_sample_event() {
    use base64::Engine as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut read_some = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap_or_default())
        else {
            continue;
        };
        let Some(data) = value.pointer("/awslogs/data").and_then(|d| d.as_str()) else { continue };
        let gzip = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        let Ok(inflated) = super::super::gunzip_bounded(&gzip, 1 << 26) else { continue }; // corrupt-batch.json
        let text = String::from_utf8(inflated).unwrap();
        assert!(agrees(&text).is_some(), "{}", path.display());
        read_some += 1;
    }
    assert!(read_some >= 10, "{read_some}");
}

/// Whatever it does not read as serde would, it leaves to serde.
#[test]
fn leaves_everything_else_to_serde() {
    for text in [
        "{}",
        r#"{"logEvents":[]}"#,
        r#"{"messageType":"DATA_MESSAGE"}"#,
        r#"{"messageType":"D","logEvents":[],"somethingNew":1}"#,
        r#"{"messageType":"D","logEvents":[],"owner":"a","owner":"b"}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"x","extra":true}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1.5,"message":"x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1e3,"message":"x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":01,"message":"x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":-0,"message":"x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":99999999999999999999,"message":"x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"\x"}]}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"\u12"}]}"#,
        "{\"messageType\":\"D\",\"logEvents\":[],\"owner\":\"a\tb\"}",
        "{\"messageType\":\"D\",\"logEvents\":[{\"timestamp\":1,\"message\":\"a\nb\"}]}",
        r#"{"messageType":"D","logEvents":[],"owner":"a"} x"#,
        r#"{"messageType":"D","logEvents":[],"owner":"a",}"#,
        r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"x"},]}"#,
        r#"{"messageType":"D","logEvents":[],"owner":"a"#,
        r#"{"messageType":"D","logEvents":[],"owner":"a\"#,
        r#"{"messageType":"D","logEvents":[],"owner":"a\\"#,
        "",
        "[]",
        "{",
    ] {
        assert_eq!(agrees(text), None, "{text}");
    }
}
