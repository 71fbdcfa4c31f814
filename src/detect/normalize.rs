//! Normalisation: the text a message is matched through, beyond the message as printed.
//!
//! Functions print one failure in many shapes: as plain text; inside a JSON log document
//! (Lambda's JSON log format, Powertools, pino, bunyan, winston, logrus, zap, structlog,
//! Serilog); inside an error JSON (an invoke response, a Step Functions task whose `cause` is
//! itself a JSON document in a string); with newlines, tabs and quotes escaped. Rules and the
//! platform parser are written for the text as the runtime prints it. [`unfold`] recovers
//! that text: every string field of a JSON document with its escapes undone, one per line,
//! recursing into strings that are JSON documents themselves; for text that is not JSON but
//! holds escapes (`\n`, `\"`, `\u0027`), the message with its escapes undone.
//!
//! The analyzer matches the message as printed first, and the unfolded text only when the
//! message holds a JSON document or a backslash, so the hot path for ordinary lines is
//! unchanged. Evidence always shows the original line.

use serde_json::Value;

/// JSON documents nested in strings deeper than this are kept as text.
const MAX_DEPTH: usize = 4;

/// Where a JSON document starts in `message`: at its first non-blank character, or after a
/// text prefix (`<time>\t<id>\tERROR\tInvoke Error \t{"errorType":…}`).
pub fn json_start(message: &str) -> Option<usize> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') {
        return Some(message.len() - trimmed.len());
    }
    memchr::memmem::find(message.as_bytes(), b"{\"")
}

/// What [`unfold`] found out about a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unfolded {
    /// Text was appended.
    pub any: bool,
}

/// Appends the normalised text of `message` to `out`, one field per line.
///
/// A JSON document (at the start, or after a text prefix) gives its string fields, escapes
/// undone, arrays (a `stackTrace`) one element per line, and strings that are JSON documents
/// opened in turn. A message that is not JSON but holds backslash escapes gives its text
/// with the escapes undone. Anything else appends nothing.
pub fn unfold(message: &str, out: &mut String) -> Unfolded {
    let start = out.len();
    if let Some(at) = json_start(message) {
        let mut documents = serde_json::Deserializer::from_str(&message[at..]).into_iter::<Value>();
        if let Some(Ok(document)) = documents.next() {
            push_texts(&document, out, 0);
        }
    }
    if out.len() == start && message.contains('\\') {
        unescape_into(message, out);
        out.push('\n');
    }
    Unfolded { any: out.len() > start }
}

fn push_texts(value: &Value, out: &mut String, depth: usize) {
    match value {
        Value::String(text) => push_string(text, out, depth),
        Value::Array(items) => items.iter().for_each(|item| push_texts(item, out, depth)),
        Value::Object(fields) => fields.values().for_each(|field| push_texts(field, out, depth)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn push_string(text: &str, out: &mut String, depth: usize) {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return;
    }
    if depth < MAX_DEPTH
        && (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(nested) = serde_json::from_str::<Value>(trimmed)
    {
        push_texts(&nested, out, depth + 1);
        return;
    }
    // Escaped twice (a JSON string holding `\n` as text): undo the second level as well.
    if text.contains('\\') {
        unescape_into(text, out);
    } else {
        out.push_str(text);
    }
    out.push('\n');
}

/// Undoes JSON-style backslash escapes (`\n`, `\t`, `\"`, `\\`, `\/`, `\uXXXX`) and `\'`;
/// anything else is kept as written.
fn unescape_into(text: &str, out: &mut String) {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = chars.as_str();
        match rest.chars().next() {
            Some('n' | 'r') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(q @ ('"' | '\\' | '/' | '\'')) => out.push(q),
            Some('u') => match rest.get(1..5).and_then(|hex| u32::from_str_radix(hex, 16).ok()) {
                Some(code) => {
                    out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    chars.nth(3);
                }
                None => {
                    out.push('\\');
                    continue;
                }
            },
            Some(_) | None => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unfolded(message: &str) -> (String, Unfolded) {
        let mut out = String::new();
        let found = unfold(message, &mut out);
        (out, found)
    }

    #[test]
    fn lambda_json_error_gives_its_fields_one_per_line() {
        let (text, found) = unfolded(
            r#"{"timestamp":"2024-05-20T16:29:45.009Z","level":"ERROR","errorType":"MemoryError","errorMessage":"","stackTrace":["  File \"/var/task/app.py\", line 9, in handler\n","MemoryError"]}"#,
        );
        assert!(found.any);
        assert!(text.lines().any(|l| l == "MemoryError"), "{text}");
        assert!(text.contains("  File \"/var/task/app.py\", line 9, in handler\n"), "{text}");
    }

    #[test]
    fn a_json_document_in_a_string_is_opened_too() {
        // A Step Functions task failure: `cause` holds the Lambda error JSON as a string.
        let (text, _) = unfolded(
            r#"{"error":"Lambda.Unknown","cause":"{\"errorMessage\":\"2025-02-03T04:05:06.789Z 0f0e0d0c-0b0a-4990-8887-766554433221 Task timed out after 6.01 seconds\"}"}"#,
        );
        assert!(text.lines().any(|l| l.ends_with("Task timed out after 6.01 seconds")), "{text}");
        assert!(!text.contains("\\\""), "{text}");
    }

    #[test]
    fn json_after_a_text_prefix_is_found() {
        let (text, _) = unfolded(
            "2020-09-04T00:38:00.810Z\tundefined\tERROR\tInvoke Error \t{\"errorType\":\"Runtime.ImportModuleError\",\"errorMessage\":\"Error: Cannot find module 'index'\\nRequire stack:\\n- /var/runtime/index.mjs\"}",
        );
        assert!(text.lines().any(|l| l == "Error: Cannot find module 'index'"), "{text}");
    }

    #[test]
    fn escaped_text_that_is_not_json_is_unescaped() {
        let (text, _) = unfolded(r"Traceback (most recent call last):\n  File \u0027app.py\u0027\nMemoryError");
        assert!(text.lines().any(|l| l == "MemoryError"), "{text}");
        assert!(text.contains("File 'app.py'"), "{text}");
    }

    #[test]
    fn plain_text_and_broken_json_never_panic() {
        for message in
            ["plain text", "", "{", "{\"a\":", "\\", "\\u12", "\\uZZZZ tail", "x {\"a\": [1, {\"b\": \"c\\n\"}]}"]
        {
            let _ = unfolded(message);
        }
        assert!(!unfolded("plain text without escapes").1.any);
    }
}
