//! [`EventText`]: an event's id or message, a slice of one buffer its whole batch shares.
//!
//! A worst-case batch holds 16.7k events. Giving each id and message its own `String` cost
//! 33k allocations to decode and as many frees to drop, about a quarter of the decode
//! (`make bench`). [`super::document`] unescapes every id and message of a batch, in place,
//! to the front of the inflated document, which becomes the one buffer they share, and each
//! event keeps its slices of it. Text built one event at a time (a
//! log file, `FilterLogEvents`, a test) converts from a `String` and owns its own buffer.
//! Either way the text reads as a `&str` (`Deref`), compares with strings, and prints as one.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event's text: `len` bytes at `start` of a shared buffer, always at character boundaries.
#[derive(Clone, Default)]
pub struct EventText {
    buffer: Arc<String>,
    start: usize,
    len: usize,
}

impl EventText {
    /// The text at `range` of `buffer`; `None` when the range is not a string slice of it.
    pub(super) fn slice(buffer: &Arc<String>, start: usize, len: usize) -> Option<Self> {
        buffer.get(start..start.checked_add(len)?)?;
        Some(Self { buffer: Arc::clone(buffer), start, len })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // `slice` and `From` only make ranges that are string slices of the buffer.
        self.buffer.get(self.start..self.start + self.len).unwrap_or_default()
    }
}

impl Deref for EventText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for EventText {
    fn from(text: String) -> Self {
        let len = text.len();
        Self { buffer: Arc::new(text), start: 0, len }
    }
}

impl From<&str> for EventText {
    fn from(text: &str) -> Self {
        Self { buffer: Arc::new(text.to_owned()), start: 0, len: text.len() }
    }
}

impl From<EventText> for String {
    fn from(text: EventText) -> Self {
        text.as_str().to_owned()
    }
}

impl fmt::Debug for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for EventText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EventText {}

impl PartialOrd for EventText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EventText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for EventText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for EventText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for EventText {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<EventText> for String {
    fn eq(&self, other: &EventText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<EventText> for str {
    fn eq(&self, other: &EventText) -> bool {
        self == other.as_str()
    }
}

impl Serialize for EventText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compares_and_prints_as_its_slice() {
        let buffer = Arc::new(String::from("abcdé"));
        let text = EventText::slice(&buffer, 1, 2).unwrap();
        assert_eq!(text, "bc");
        assert_eq!(text.len(), 2);
        assert_eq!(format!("{text}/{text:?}"), "bc/\"bc\"");
        assert_eq!(text, EventText::from("bc"));
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"bc\"");
        // Not a slice of the buffer: past its end, or inside a character.
        assert_eq!(EventText::slice(&buffer, 3, 3).unwrap(), "dé");
        assert!(EventText::slice(&buffer, 3, 4).is_none());
        assert!(EventText::slice(&buffer, 4, 1).is_none());
        assert!(EventText::slice(&buffer, 5, 1).is_none());
        assert!(EventText::slice(&buffer, usize::MAX, 2).is_none());
        assert_eq!(EventText::default(), "");
    }
}
