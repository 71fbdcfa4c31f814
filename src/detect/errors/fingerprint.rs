//! Grouping errors: one fingerprint for one bug, whatever ids and values its messages carry.
//!
//! As Sentry groups issues, in this order of preference:
//!
//! 1. a stack with frames of the application's own code: the function, the error type and
//!    those frames (file and function, never a line number), so an edit elsewhere in the file
//!    keeps the group;
//! 2. else the function, the error type and the message with its variable parts masked;
//! 3. else the function and the masked message.
//!
//! Masking ([`mask`]) replaces what varies between two occurrences of one bug with `<*>`, as
//! CloudWatch Logs' pattern analysis does: numbers, UUIDs and request ids, hex strings, quoted
//! values, the variable parts of ARNs and resource ids, times, e-mail and IP addresses.
//!
//! The fingerprint is versioned ([`FINGERPRINT_VERSION`], in every finding that carries one):
//! a change to the grouping raises it, so that state kept under the old fingerprints (what was
//! already seen, what is muted) is known to be from another grouping rather than silently
//! regrouped.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use sha2::{Digest, Sha256};

use super::stack::Frame;

/// The version of the grouping below; raised whenever two errors would group differently.
pub const FINGERPRINT_VERSION: u32 = 1;

/// The most in-app frames a fingerprint reads.
const MAX_FINGERPRINT_FRAMES: usize = 5;
/// The longest masked message in a title, in characters.
const MAX_TITLE_CHARS: usize = 120;
/// What masking reads of a message: its first line, at most this many bytes.
const MAX_MASKED_BYTES: usize = 512;

/// What [`mask`] puts in place of a variable part.
pub const PLACEHOLDER: &str = "<*>";

/// The variable parts of a message, in the order they are tried at each position.
static VARIABLE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<arn>\barn:aws[a-z-]*:[a-z0-9-]+:)[^\s'\x22,)\]}]*",
        r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
        r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
        r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b",
        r"|'[^'\n]{0,200}'|\x22[^\x22\n]{0,200}\x22|`[^`\n]{0,200}`",
        r"|\b[a-z]{1,8}-[0-9a-f]{8,17}\b",
        r"|\b0x[0-9a-fA-F]+\b|(?P<hex>\b[0-9a-fA-F]{6,}\b)",
        r"|\b\d+(?:\.\d+)?",
    ))
    .ok()
});

/// `text`'s first line with its variable parts replaced by `<*>` (see the module docs).
pub fn mask(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    let line = crate::model::finding::excerpt(line, MAX_MASKED_BYTES);
    let Some(variable) = VARIABLE.as_ref() else { return line };
    variable
        .replace_all(&line, |caps: &Captures<'_>| {
            if let Some(head) = caps.name("arn") {
                return format!("{}{PLACEHOLDER}", head.as_str());
            }
            match caps.name("hex") {
                // A word of hex letters alone (`deadbeef`, `facade`) is a word.
                Some(hex) if !hex.as_str().bytes().any(|b| b.is_ascii_digit()) => hex.as_str().to_owned(),
                _ => PLACEHOLDER.to_owned(),
            }
        })
        .into_owned()
}

/// The fingerprint of an error in `function`: 16 hex digits (see the module docs).
pub fn fingerprint(function: &str, error_type: Option<&str>, message: Option<&str>, frames: &[Frame]) -> String {
    let mut hasher = Sha256::new();
    let mut part = |text: &str| {
        hasher.update(text.as_bytes());
        hasher.update([0]);
    };
    part(&FINGERPRINT_VERSION.to_string());
    part(function);
    part(error_type.unwrap_or(""));
    let in_app: Vec<&Frame> = frames.iter().filter(|f| f.in_app).take(MAX_FINGERPRINT_FRAMES).collect();
    if in_app.is_empty() {
        part("message");
        part(&mask(message.unwrap_or("")));
    } else {
        part("frames");
        for frame in in_app {
            part(&frame.file);
            part(&frame.function);
        }
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A title in the error's own words: `TypeError: Cannot read properties of undefined (reading
/// <*>)`, the message masked and shortened.
pub fn title(error_type: Option<&str>, message: Option<&str>) -> Option<String> {
    let masked = message.map(mask).filter(|m| !m.is_empty());
    let masked = masked.map(|m| match m.char_indices().nth(MAX_TITLE_CHARS) {
        Some((cut, _)) => format!("{}…", &m[..cut]),
        None => m,
    });
    match (error_type, masked) {
        (Some(error_type), Some(message)) if message.starts_with(error_type) => Some(message),
        (Some(error_type), Some(message)) => Some(format!("{error_type}: {message}")),
        (Some(error_type), None) => Some(error_type.to_owned()),
        (None, Some(message)) => Some(message),
        (None, None) => None,
    }
}
