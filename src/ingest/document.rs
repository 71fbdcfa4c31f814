//! A fast reader for the one JSON shape CloudWatch Logs writes, with serde as its referee.
//!
//! A worst-case batch inflates to 5.5 MB of JSON holding 16.7k events. Through serde_json's
//! derived `Deserialize`, every id and message became a `String` of its own: copied twice
//! (escaped text into serde's scratch buffer, then into the `String`), allocated, and freed
//! again when the batch was dropped; the decode cost twice the inflate itself (`make bench`).
//! This reader walks the document's exact shape (`messageType`, `owner`, `logGroup`,
//! `logStream`, `subscriptionFilters`, `policyLevel`, `logEvents` of `id`, `timestamp`,
//! `message`), finds each string's end with `memchr`, and unescapes every id and message once
//! into one buffer the whole batch shares ([`EventText`]).
//!
//! It only ever says "this is the batch" or "not mine": any other key, a duplicate key, a
//! number that is not a plain integer, an escape it would have to judge (a lone surrogate),
//! anything out of place, and it returns `None`, so [`super::parse_document`] hands the text to
//! serde_json, whose answer (the batch or the error that names the fault) is then the answer.
//! The two agree on every document the tests feed both.

use std::sync::Arc;

use super::{EventText, LogBatch, LogEvent};

/// Reads a whole CloudWatch Logs document, or `None` for serde_json to judge.
pub(super) fn read(text: &str) -> Option<LogBatch> {
    // A raw control character inside a string is invalid JSON (serde_json names it). One
    // vectorised pass over the document finds whether there is any such byte at all; only
    // then does each string look for one.
    let controls = text.bytes().fold(false, |found, b| found | (b < 0x20));
    // Unescaped, the ids and messages are never longer than the document: one allocation,
    // whose untouched tail is given back below.
    let mut reader = Reader { text, at: 0, shared: String::with_capacity(text.len()), controls };
    let (mut batch, spans) = reader.document()?;
    reader.skip_whitespace();
    if reader.at != text.len() {
        return None;
    }
    reader.shared.shrink_to_fit();
    let shared = Arc::new(reader.shared);
    batch.log_events = spans
        .into_iter()
        .map(|span| {
            Some(LogEvent {
                id: EventText::slice(&shared, span.id.0, span.id.1)?,
                timestamp: span.timestamp,
                message: EventText::slice(&shared, span.message.0, span.message.1)?,
            })
        })
        .collect::<Option<_>>()?;
    Some(batch)
}

/// Where one event's id and message lie in the shared buffer (`(start, length)`).
struct EventSpan {
    id: (usize, usize),
    timestamp: i64,
    message: (usize, usize),
}

/// A cursor over the document's text; `at` is always at a character boundary.
struct Reader<'a> {
    text: &'a str,
    at: usize,
    /// Every id and message, unescaped, one after the other.
    shared: String,
    /// The document holds a byte below 0x20 (whitespace between tokens, or a fault).
    controls: bool,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After an element of an object or array: `true` for a comma (another follows), `false`
    /// for the `close` byte.
    fn another(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b',' => Some(true),
            b if b == close => Some(false),
            _ => None,
        }
    }

    /// Consumes `open`; `true` when the container is empty (its `close` consumed too).
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.expect(open)?;
        self.skip_whitespace();
        if self.peek()? == close {
            self.at += 1;
            return Some(true);
        }
        Some(false)
    }

    /// Calls `field` for each key of an object; the callback reads the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        if self.open(b'{', b'}')? {
            return Some(());
        }
        loop {
            // Keys are compared as written: an escaped one is no key this reader knows.
            let (key, escaped) = self.raw_string()?;
            if escaped {
                return None;
            }
            self.expect(b':')?;
            field(self, key)?;
            if !self.another(b'}')? {
                return Some(());
            }
        }
    }

    /// Calls `element` for each element of an array.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.open(b'[', b']')? {
            return Some(());
        }
        loop {
            element(self)?;
            if !self.another(b']')? {
                return Some(());
            }
        }
    }

    /// `null`, consumed; `false` (nothing consumed) when the value is something else.
    fn null(&mut self) -> bool {
        self.skip_whitespace();
        let found = self.bytes().get(self.at..).is_some_and(|rest| rest.starts_with(b"null"));
        if found {
            self.at += 4;
        }
        found
    }

    /// A string, unescaped into the shared buffer: found with `memchr`, copied once.
    /// Returns where it lies there (`(start, length)`).
    fn shared_string(&mut self) -> Option<(usize, usize)> {
        self.expect(b'"')?;
        let bytes = self.bytes();
        let begin = self.shared.len();
        let start = self.at;
        let mut copied = start;
        let mut at = self.at;
        loop {
            at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
            if bytes.get(at) == Some(&b'"') {
                break;
            }
            self.shared.push_str(self.text.get(copied..at)?);
            let (unescaped, length) = escape(self.text.get(at..)?)?;
            self.shared.push(unescaped);
            at += length;
            copied = at;
        }
        self.shared.push_str(self.text.get(copied..at)?);
        self.at = at + 1;
        // Escaped control characters (`\n`) are fine; raw ones are not JSON.
        if self.controls && self.text.get(start..at)?.bytes().any(|b| b < 0x20) {
            return None;
        }
        Some((begin, self.shared.len() - begin))
    }

    /// A string of the document's header (owner, log group…), unescaped into its own `String`.
    fn string(&mut self) -> Option<String> {
        let (start, len) = self.shared_string()?;
        let owned = self.shared.get(start..start + len)?.to_owned();
        self.shared.truncate(start);
        Some(owned)
    }

    /// A string as written between its quotes, and whether it holds an escape.
    fn raw_string(&mut self) -> Option<(&'a str, bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let bytes = self.bytes();
        let mut end = start;
        let mut escaped = false;
        loop {
            end += memchr::memchr2(b'"', b'\\', bytes.get(end..)?)?;
            if bytes.get(end) == Some(&b'"') {
                break;
            }
            escaped = true;
            end += 2;
        }
        let raw = self.text.get(start..end)?;
        self.at = end + 1;
        if self.controls && raw.bytes().any(|b| b < 0x20) {
            return None;
        }
        Some((raw, escaped))
    }

    /// A JSON integer that fits an `i64` (no fraction or exponent: serde judges those).
    fn integer(&mut self) -> Option<i64> {
        self.skip_whitespace();
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let number = self.text.get(start..self.at)?;
        let leading_zero = self.bytes().get(digits) == Some(&b'0') && self.at - digits > 1;
        if self.at == digits || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        number.parse().ok()
    }

    /// The document: every key at most once, each of the known ones, `messageType` and
    /// `logEvents` among them.
    fn document(&mut self) -> Option<(LogBatch, Vec<EventSpan>)> {
        let mut batch = LogBatch {
            owner: String::new(),
            log_group: String::new(),
            log_stream: String::new(),
            message_type: String::new(),
            policy_level: None,
            subscription_filters: Vec::new(),
            log_events: Vec::new(),
        };
        let mut spans = Vec::new();
        let mut seen = [false; 7];
        self.object(|reader, key| {
            let slot =
                ["owner", "logGroup", "logStream", "messageType", "policyLevel", "subscriptionFilters", "logEvents"]
                    .iter()
                    .position(|known| *known == key)?;
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
            match slot {
                0 => batch.owner = reader.string()?,
                1 => batch.log_group = reader.string()?,
                2 => batch.log_stream = reader.string()?,
                3 => batch.message_type = reader.string()?,
                4 => batch.policy_level = if reader.null() { None } else { Some(reader.string()?) },
                5 => reader.array(|reader| {
                    batch.subscription_filters.push(reader.string()?);
                    Some(())
                })?,
                _ => reader.array(|reader| {
                    spans.push(reader.event()?);
                    Some(())
                })?,
            }
            Some(())
        })?;
        // `messageType` and `logEvents` are required (see [`LogBatch`]): serde names the one missing.
        (seen[3] && seen[6]).then_some((batch, spans))
    }

    /// One log event: `timestamp` and `message` required, `id` optional, nothing else.
    fn event(&mut self) -> Option<EventSpan> {
        let (mut id, mut timestamp, mut message) = (None, None, None);
        self.object(|reader, key| {
            let (slot_empty, value) = match key {
                "id" => (id.is_none(), reader.shared_string().map(|s| id = Some(s))),
                "timestamp" => (timestamp.is_none(), reader.integer().map(|t| timestamp = Some(t))),
                "message" => (message.is_none(), reader.shared_string().map(|s| message = Some(s))),
                _ => return None,
            };
            slot_empty.then_some(())?;
            value
        })?;
        Some(EventSpan { id: id.unwrap_or((0, 0)), timestamp: timestamp?, message: message? })
    }
}

/// The escape at the start of `text` (a backslash and what follows) as a character, and its
/// length; `None` for one serde must judge (unknown, short, a lone or reversed surrogate).
fn escape(text: &str) -> Option<(char, usize)> {
    let simple = match text.as_bytes().get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let (unit, rest) = hex4(text.get(2..)?)?;
            return match unit {
                0xd800..=0xdbff => {
                    let (low, _) = rest.strip_prefix("\\u").and_then(hex4)?;
                    if !(0xdc00..=0xdfff).contains(&low) {
                        return None;
                    }
                    let code = 0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00);
                    Some((char::from_u32(code)?, 12))
                }
                0xdc00..=0xdfff => None,
                _ => Some((char::from_u32(u32::from(unit))?, 6)),
            };
        }
        _ => return None,
    };
    Some((simple, 2))
}

/// Four hex digits at the start of `text`, and what follows them.
fn hex4(text: &str) -> Option<(u16, &str)> {
    let digits = text.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((u16::from_str_radix(digits, 16).ok()?, text.get(4..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(text: &str) -> Option<LogBatch> {
        serde_json::from_str(text).ok()
    }

    /// The fast reader's answer, where it has one, is serde's.
    fn agrees(text: &str) -> Option<LogBatch> {
        let fast = read(text);
        if let Some(batch) = &fast {
            assert_eq!(Some(batch), serde(text).as_ref(), "{text}");
        }
        fast
    }

    const DOC: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/echo","logStream":"2019/03/13/[$LATEST]94fa","subscriptionFilters":["a","b"],"policyLevel":"ACCOUNT_LEVEL_POLICY","logEvents":[{"id":"346","timestamp":1552518348220,"message":"REPORT RequestId: 6234\tDuration: 46.84 ms\n"},{"timestamp":-3,"message":"{\"level\":\"ERROR\",\"msg\":\"caf\u00e9 \ud83d\ude00 \\ \/ \b\f\r\"}\n","id":""}]}"#;

    #[test]
    fn reads_what_serde_reads() {
        let batch = agrees(DOC).unwrap();
        assert_eq!(batch.log_events.len(), 2);
        assert_eq!(batch.log_events[1].message, "{\"level\":\"ERROR\",\"msg\":\"café 😀 \\ / \u{8}\u{c}\r\"}\n");
        // Every event's id and message is a slice of one shared buffer.
        assert_eq!(batch.log_events[0].id, "346");
        assert_eq!(batch.log_events[1].id, "");
        let spaced = " {\n \"logEvents\" : [ { \"timestamp\" : 0 , \"message\" : \"\" } ] , \"policyLevel\" : null, \"messageType\":\"DATA_MESSAGE\" }\n";
        assert_eq!(agrees(spaced).unwrap().log_events[0].id, "");
        assert!(agrees(r#"{"messageType":"CONTROL_MESSAGE","logEvents":[],"subscriptionFilters":[]}"#).is_some());
    }

    /// Every awslogs event in `events/`, as CloudWatch Logs writes them, takes the fast path.
    #[test]
    fn reads_every_sample_event() {
        use base64::Engine as _;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let mut read_some = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(value) =
                serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap_or_default())
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
            r#"{"messageType":"D","logEvents":[{"timestamp":99999999999999999999,"message":"x"}]}"#,
            r#"{"messageType":"D","logEvents":[{"timestamp":1}]}"#,
            r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"\ud800"}]}"#,
            r#"{"messageType":"D","logEvents":[{"timestamp":1,"message":"\udc00\ud800"}]}"#,
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
}
