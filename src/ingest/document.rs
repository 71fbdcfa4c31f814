//! A fast reader for the one JSON shape CloudWatch Logs writes, with serde as its referee.
//!
//! A worst-case batch inflates to 5.5 MB of JSON holding 16.7k events. Through serde_json's
//! derived `Deserialize`, every id and message became a `String` of its own: copied twice
//! (escaped text into serde's scratch buffer, then into the `String`), allocated, and freed
//! again when the batch was dropped; the decode cost twice the inflate itself (`make bench`).
//! This reader walks the document's exact shape (`messageType`, `owner`, `logGroup`,
//! `logStream`, `subscriptionFilters`, `policyLevel`, `logEvents` of `id`, `timestamp`,
//! `message`), finds each string's end with `memchr`, and unescapes every id and message
//! inside the inflated document itself: each is moved, unescaped, to the end of the ones
//! before it, at the front of the document. An unescaped string is never longer than its
//! escaped text, so what is written never overtakes what is still to be read. The front of the
//! document then becomes the one buffer the whole batch shares ([`EventText`]): no event has a
//! copy of its own, and their text takes no memory beyond the document's.
//!
//! It only ever says "this is the batch" or "not mine": any other key, a duplicate key, a
//! number that is not a plain integer, an escape it would have to judge (a lone surrogate),
//! text that is not UTF-8, anything out of place, and it returns `None`. The document is then
//! partly rewritten, so [`super::parse_document`] gives serde_json a pristine copy (inflated
//! again, or for a plain document copied again), and serde's answer (the batch, or the error
//! that names the fault) is the answer.
//! The two agree on every document the tests feed both.
//!
//! Over 400 lines: the reader and its unescaping are one pass over the document, kept with the
//! proof that what it writes never overtakes what it reads.

use std::sync::Arc;

use super::{EventText, LogBatch, LogEvent};

/// Reads a whole CloudWatch Logs document, rewriting it in place, or `None` for serde_json to
/// judge (from a pristine copy: this one is spent).
pub(super) fn read(document: Vec<u8>) -> Option<LogBatch> {
    // A raw control character inside a string is invalid JSON (serde_json names it). One
    // vectorised pass over the document finds whether there is any such byte at all; only
    // then does each string look for one.
    let controls = document.iter().fold(false, |found, &b| found | (b < 0x20));
    let mut reader = Reader { document, at: 0, written: 0, controls };
    let (mut batch, spans) = reader.document()?;
    reader.skip_whitespace();
    if reader.at != reader.document.len() {
        return None;
    }
    let mut shared = reader.document;
    // The tail (structure and escapes) is not given back: shrinking would reallocate, and a
    // buffer of the document's whole size is what the next batch's inflate reuses once this
    // one is freed (`perf stat` over a warm loop of the worst case: about 40 page faults a
    // batch; shrunk, glibc mapped each batch afresh, about 1,300).
    shared.truncate(reader.written);
    let shared = Arc::new(String::from_utf8(shared).ok()?);
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

/// Where one event's id and message lie, unescaped, in the shared buffer (`(start, length)`).
struct EventSpan {
    id: (usize, usize),
    timestamp: i64,
    message: (usize, usize),
}

/// A cursor over the document. Bytes from `at` on are as inflated; the ids and messages read
/// so far lie unescaped in `..written`, and `written <= at` always.
struct Reader {
    document: Vec<u8>,
    at: usize,
    written: usize,
    /// The document holds a byte below 0x20 (whitespace between tokens, or a fault).
    controls: bool,
}

impl Reader {
    fn peek(&self) -> Option<u8> {
        self.document.get(self.at).copied()
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

    /// Calls `field` for each key of an object, every key at most once and each one of
    /// `keys` (at most 32); the callback reads the value.
    fn object(
        &mut self,
        keys: &[&'static str],
        mut field: impl FnMut(&mut Self, &'static str) -> Option<()>,
    ) -> Option<()> {
        // A bit per position in `keys`: no allocation per event.
        let mut seen = 0u32;
        if self.open(b'{', b'}')? {
            return Some(());
        }
        loop {
            // Keys are compared as written: an escaped one is no key this reader knows.
            let (start, end, escaped) = self.raw_string()?;
            let written = self.document.get(start..end)?;
            let slot = keys.iter().position(|key| !escaped && key.as_bytes() == written)?;
            let bit = 1u32.checked_shl(u32::try_from(slot).ok()?)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            self.expect(b':')?;
            field(self, keys.get(slot)?)?;
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
        let found = self.document.get(self.at..).is_some_and(|rest| rest.starts_with(b"null"));
        if found {
            self.at += 4;
        }
        found
    }

    /// A string as written between its quotes (`(start, end)` in the document), every escape
    /// in it checked, and whether it holds one.
    fn raw_string(&mut self) -> Option<(usize, usize, bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut end = start;
        let mut escaped = false;
        loop {
            end += memchr::memchr2(b'"', b'\\', self.document.get(end..)?)?;
            if self.document.get(end) == Some(&b'"') {
                break;
            }
            escaped = true;
            end += escape(self.document.get(end..)?)?.1;
        }
        self.at = end + 1;
        // Escaped control characters (`\n`) are fine; raw ones are not JSON.
        if self.controls && self.document.get(start..end)?.iter().any(|&b| b < 0x20) {
            return None;
        }
        Some((start, end, escaped))
    }

    /// A string of the document's header (owner, log group…), unescaped into its own `String`.
    fn string(&mut self) -> Option<String> {
        let (start, len) = self.shared_string()?;
        let text = std::str::from_utf8(self.document.get(start..start + len)?).ok()?.to_owned();
        // Not a slice the batch keeps: the next id or message goes where it was.
        self.written = start;
        Some(text)
    }

    /// An id or message, moved unescaped to `written`: found with `memchr`, each run between
    /// escapes moved once. Returns where it now lies (`(start, length)`).
    fn shared_string(&mut self) -> Option<(usize, usize)> {
        self.expect(b'"')?;
        let begin = self.written;
        let mut copied = self.at;
        let mut at = self.at;
        loop {
            at += memchr::memchr2(b'"', b'\\', self.document.get(at..)?)?;
            // Escaped control characters (`\n`) are fine; raw ones are not JSON.
            if self.controls && self.document.get(copied..at)?.iter().any(|&b| b < 0x20) {
                return None;
            }
            self.document.copy_within(copied..at, self.written);
            self.written += at - copied;
            if self.document.get(at) == Some(&b'"') {
                break;
            }
            let (character, length) = escape(self.document.get(at..)?)?;
            // Never longer than the escape it replaces, so `written` stays behind `at`.
            let mut utf8 = [0; 4];
            let encoded = character.encode_utf8(&mut utf8).as_bytes();
            self.document.get_mut(self.written..self.written + encoded.len())?.copy_from_slice(encoded);
            self.written += encoded.len();
            at += length;
            copied = at;
        }
        self.at = at + 1;
        Some((begin, self.written - begin))
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
        let leading_zero = self.document.get(digits) == Some(&b'0') && self.at - digits > 1;
        // serde_json reads `-0` as a float, which is no timestamp.
        let minus_zero = digits > start && self.document.get(digits..self.at) == Some(b"0");
        if self.at == digits || leading_zero || minus_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        std::str::from_utf8(self.document.get(start..self.at)?).ok()?.parse().ok()
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
        const KEYS: &[&str] =
            &["owner", "logGroup", "logStream", "messageType", "policyLevel", "subscriptionFilters", "logEvents"];
        let (mut typed, mut listed) = (false, false);
        self.object(KEYS, |reader, key| {
            match key {
                "owner" => batch.owner = reader.string()?,
                "logGroup" => batch.log_group = reader.string()?,
                "logStream" => batch.log_stream = reader.string()?,
                "messageType" => {
                    batch.message_type = reader.string()?;
                    typed = true;
                }
                "policyLevel" => batch.policy_level = if reader.null() { None } else { Some(reader.string()?) },
                "subscriptionFilters" => reader.array(|reader| {
                    batch.subscription_filters.push(reader.string()?);
                    Some(())
                })?,
                "logEvents" => {
                    reader.array(|reader| {
                        spans.push(reader.event()?);
                        Some(())
                    })?;
                    listed = true;
                }
                _ => return None,
            }
            Some(())
        })?;
        // `messageType` and `logEvents` are required (see [`LogBatch`]): serde names the one missing.
        (typed && listed).then_some((batch, spans))
    }

    /// One log event: `timestamp` and `message` required, `id` optional, nothing else.
    fn event(&mut self) -> Option<EventSpan> {
        let (mut id, mut timestamp, mut message) = ((self.written, 0), None, None);
        self.object(&["id", "timestamp", "message"], |reader, key| {
            match key {
                "id" => id = reader.shared_string()?,
                "timestamp" => timestamp = Some(reader.integer()?),
                "message" => message = Some(reader.shared_string()?),
                _ => return None,
            }
            Some(())
        })?;
        Some(EventSpan { id, timestamp: timestamp?, message: message? })
    }
}

/// The escape at the start of `text` (a backslash and what follows) as a character, and its
/// length; `None` for one serde must judge (unknown, short). A lone surrogate is U+FFFD, as
/// [`without_lone_surrogates`] gives serde.
fn escape(text: &[u8]) -> Option<(char, usize)> {
    let simple = match text.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(text.get(2..)?)?;
            return match unit {
                0xd800..=0xdbff => {
                    let low = text.get(6..8).filter(|u| *u == b"\\u").and_then(|_| hex4(text.get(8..)?));
                    match low {
                        Some(low @ 0xdc00..=0xdfff) => {
                            let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                            Some((char::from_u32(code)?, 12))
                        }
                        // A lone surrogate stands for no character: the replacement character
                        // takes its place, as a lossy UTF-16 decoder does, and the batch is read.
                        _ => Some((char::REPLACEMENT_CHARACTER, 6)),
                    }
                }
                0xdc00..=0xdfff => Some((char::REPLACEMENT_CHARACTER, 6)),
                _ => Some((char::from_u32(unit)?, 6)),
            };
        }
        _ => return None,
    };
    Some((simple, 2))
}

/// `text` with every `\\uXXXX` escape of a lone surrogate written `\\ufffd`, for serde_json,
/// which refuses the whole document over one (a function printing a cut UTF-16 string is
/// enough): the batch is read, that character replaced, as the fast reader does. Borrowed
/// when there is none; one pass.
pub(super) fn without_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut lone: Vec<usize> = Vec::new();
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'\\', &bytes[at..]) {
        let start = at + found;
        match bytes.get(start + 1) {
            Some(b'u') => {
                let unit = hex4(bytes.get(start + 2..).unwrap_or_default());
                let next =
                    bytes.get(start + 6..start + 8).filter(|u| *u == b"\\u").and_then(|_| hex4(&bytes[start + 8..]));
                match (unit, next) {
                    (Some(0xd800..=0xdbff), Some(0xdc00..=0xdfff)) => at = start + 12,
                    (Some(0xd800..=0xdfff), _) => {
                        lone.push(start);
                        at = start + 6;
                    }
                    _ => at = start + 2,
                }
            }
            Some(_) => at = start + 2,
            None => break,
        }
    }
    if lone.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for start in lone {
        out.push_str(&text[from..start]);
        out.push_str("\\ufffd");
        from = start + 6;
    }
    out.push_str(&text[from..]);
    std::borrow::Cow::Owned(out)
}

/// The four hex digits at the start of `text`.
fn hex4(text: &[u8]) -> Option<u32> {
    text.get(..4)?.iter().try_fold(0, |value, &digit| Some(value << 4 | char::from(digit).to_digit(16)?))
}

#[cfg(test)]
mod tests;
