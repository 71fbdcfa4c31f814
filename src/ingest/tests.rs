//! Tests of `ingest`.

use super::*;
use flate2::{Compression, write::GzEncoder};
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const DOC: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/echo-nodejs","logStream":"2019/03/13/[$LATEST]94fa867e5374431291a7fc14e2f56ae7","subscriptionFilters":["LambdaStream_cloudwatchlogs-node"],"policyLevel":"ACCOUNT_LEVEL_POLICY","somethingNew":1,"logEvents":[{"id":"34622316099697884706540976068822859012661220141643892546","timestamp":1552518348220,"message":"REPORT RequestId: 6234bffe-149a-b642-81ff-2e8e376d8aff\tDuration: 46.84 ms\tBilled Duration: 47 ms \tMemory Size: 192 MB\tMax Memory Used: 72 MB\t\n"}]}"#;

fn awslogs_event(doc: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(doc));
    format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#)
}

#[test]
fn decodes_the_aws_sample_with_policy_level_and_unknown_fields() {
    let event = awslogs_event(DOC.as_bytes());
    let Invocation::AwsLogs(batch) = decode_invocation(event.as_bytes(), 1 << 20).unwrap() else {
        panic!("expected awslogs");
    };
    assert_eq!(batch.owner, "123456789012");
    assert_eq!(batch.log_group, "/aws/lambda/echo-nodejs");
    assert_eq!(batch.policy_level.as_deref(), Some("ACCOUNT_LEVEL_POLICY"));
    assert_eq!(batch.log_events.len(), 1);
    assert_eq!(batch.log_events[0].id, "34622316099697884706540976068822859012661220141643892546");
    assert!(!batch.is_control_message());
}

#[test]
fn decodes_every_gzip_member() {
    let first = gzip(&DOC.as_bytes()[..40]);
    let second = gzip(&DOC.as_bytes()[40..]);
    let joined = [first, second].concat();
    let batch = decode_document(&joined, 1 << 20).unwrap();
    assert_eq!(batch.log_events.len(), 1);
}

/// The buffer is sized from the last member's ISIZE; with several members that is too
/// small, and a member of an empty document too: the output must still be whole, and the
/// limit must still hold.
#[test]
fn the_size_hint_never_truncates_nor_lifts_the_limit() {
    let first = DOC.as_bytes();
    let mut two = gzip(&first[..first.len() / 2]);
    two.extend(gzip(&first[first.len() / 2..]));
    assert_eq!(gunzip_bounded(&two, 1 << 20).unwrap(), first);
    let mut then_empty = gzip(first);
    then_empty.extend(gzip(b""));
    assert_eq!(gunzip_bounded(&then_empty, 1 << 20).unwrap(), first);
    assert!(matches!(gunzip_bounded(&gzip(first), first.len() - 1), Err(IngestError::TooLarge { .. })));
    assert_eq!(gunzip_bounded(&gzip(first), first.len()).unwrap(), first);
}

/// Members A, B, A: the first member's trailer is the last one's, and B must be read all
/// the same (it once was not: a failure in B gave "no problems found"). A document between
/// two empty members is read whole too.
#[test]
fn every_member_is_read_when_the_first_and_last_are_alike() {
    let doc = DOC.as_bytes();
    let (a, b) = (gzip(&doc[..60]), gzip(&doc[60..doc.len() - 60]));
    let c = gzip(&doc[doc.len() - 60..]);
    let mut a_b_a = a.clone();
    a_b_a.extend(&b);
    a_b_a.extend(&a);
    let inflated = gunzip_bounded(&a_b_a, 1 << 20).unwrap();
    assert_eq!(inflated, [&doc[..60], &doc[60..doc.len() - 60], &doc[..60]].concat());
    let whole = [a.clone(), b, c].concat();
    assert_eq!(gunzip_bounded(&whole, 1 << 20).unwrap(), doc);
    let around = [gzip(b""), gzip(doc), gzip(b"")].concat();
    assert_eq!(decode_document(&around, 1 << 20).unwrap().log_events.len(), 1);
    // And one member alone still takes the one-shot path's answer.
    assert_eq!(gunzip_bounded(&gzip(doc), 1 << 20).unwrap(), doc);
}

/// The one-shot path trusts no trailer: one that understates or overstates the size, or
/// a bomb whose trailer says it is small, gives the streaming decoder's answer.
#[test]
fn a_lying_trailer_is_caught_exactly() {
    let doc = DOC.as_bytes();
    for (at, value) in [(4, 1u32), (4, u32::MAX), (0, 0)] {
        let mut lying = gzip(doc);
        let start = lying.len() - 8 + at;
        lying[start..start + 4].copy_from_slice(&value.to_le_bytes());
        assert!(matches!(gunzip_bounded(&lying, 1 << 20), Err(IngestError::Gzip(_))), "{at} {value}");
    }
    let mut bomb = gzip(&vec![b' '; 4 << 20]);
    let start = bomb.len() - 4;
    bomb[start..].copy_from_slice(&16u32.to_le_bytes());
    assert!(matches!(gunzip_bounded(&bomb, 1 << 20), Err(IngestError::TooLarge { .. })));
    assert_eq!(gunzip_bounded(&gzip(b""), 0).unwrap(), b"");
    assert!(matches!(gunzip_bounded(&gzip(b"x"), 0), Err(IngestError::TooLarge { limit: 0 })));
}

#[test]
fn plain_json_is_accepted_when_not_gzip() {
    let batch = decode_document(DOC.as_bytes(), 1 << 20).unwrap();
    assert_eq!(batch.log_stream, "2019/03/13/[$LATEST]94fa867e5374431291a7fc14e2f56ae7");
}

#[test]
fn a_gzip_bomb_is_refused_with_the_limit_named() {
    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let err = decode_document(&bomb, 1024 * 1024).unwrap_err();
    assert!(matches!(err, IngestError::TooLarge { limit: 1_048_576 }));
    assert!(err.to_string().contains("MAX_DECOMPRESSED_BYTES"));
}

#[test]
fn truncated_gzip_is_a_gzip_error() {
    let full = gzip(DOC.as_bytes());
    let err = decode_document(&full[..full.len() / 2], 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::Gzip(_)), "{err}");
}

#[test]
fn bad_base64_is_named() {
    let err = decode_invocation(br#"{"awslogs":{"data":"%%%not base64"}}"#, 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::Base64(_)), "{err}");
    assert!(err.to_string().contains("base64"));
}

#[test]
fn non_utf8_and_non_json_documents_are_named() {
    let err = decode_document(&gzip(&[0xff, 0xfe, 0x00]), 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::NotUtf8(_)), "{err}");
    let err = decode_document(&gzip(b"{\"logEvents\": 3}"), 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::Document(_)), "{err}");
}

/// The fast reader rewrites the document as it goes; whatever it gives up on, even after
/// it has moved events, serde_json reads from a pristine copy and names the fault.
#[test]
fn faults_after_rewritten_events_are_named_from_a_pristine_copy() {
    let good = r#"{"timestamp":1,"message":"a\tb\n"}"#;
    let document = |last: &[u8]| {
        let mut doc = format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[{good},{good},"#).into_bytes();
        doc.extend_from_slice(last);
        doc.extend_from_slice(b"]}");
        doc
    };
    // A message that is not UTF-8, after two events that were unescaped in place.
    let err = decode_document(&gzip(&document(b"{\"timestamp\":2,\"message\":\"caf\xe9\"}")), 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::NotUtf8(_)), "{err}");
    // A fault serde_json names by line and column of the document as CloudWatch wrote it.
    let faulty = document(b"{\"timestamp\":2,\"message\":\"x\",}");
    let err = decode_document(&gzip(&faulty), 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::Document(_)), "{err}");
    // The column of the `}` after the trailing comma, counted from 1.
    let column = 2 + faulty.windows(2).position(|pair| pair == b",}").unwrap();
    assert!(err.to_string().contains(&format!("column {column}")), "{err}");
    // A key the reader does not know: serde_json reads the batch, escapes and all.
    let batch = decode_document(&gzip(&document(b"{\"timestamp\":2,\"message\":\"x\",\"new\":1}")), 1 << 20).unwrap();
    assert_eq!(batch.log_events.len(), 3);
    assert_eq!(batch.log_events[1].message, "a\tb\n");
}

#[test]
fn unknown_events_are_named() {
    let err = decode_invocation(b"{\"hello\":1}", 1 << 20).unwrap_err();
    assert!(err.to_string().contains("awslogs"), "{err}");
    let err = decode_invocation(b"\x00\x01", 1 << 20).unwrap_err();
    assert!(matches!(err, IngestError::UnknownEvent(_)));
}

#[test]
fn kinesis_records_decode_one_by_one() {
    let good = base64::engine::general_purpose::STANDARD.encode(gzip(DOC.as_bytes()));
    let bad = base64::engine::general_purpose::STANDARD.encode(b"\x1f\x8bgarbage");
    let event = format!(
        r#"{{"Records":[{{"kinesis":{{"data":"{good}","sequenceNumber":"1","partitionKey":"p","approximateArrivalTimestamp":1552518348.22}},"eventSource":"aws:kinesis"}},{{"kinesis":{{"data":"{bad}","sequenceNumber":"2","partitionKey":"p","approximateArrivalTimestamp":1552518348.22}}}}]}}"#
    );
    let Invocation::Kinesis(records) = decode_invocation(event.as_bytes(), 1 << 20).unwrap() else {
        panic!("expected kinesis");
    };
    assert_eq!(records.len(), 2);
    assert!(records[0].decode(1 << 20).is_ok());
    assert_eq!(records[1].sequence_number, "2");
    assert!(matches!(records[1].decode(1 << 20), Err(IngestError::Gzip(_))));
}
