//! JSON shapes of an error: the error document every runtime returns (`errorType`,
//! `errorMessage`, `stackTrace`), Lambda's JSON log format, and structured loggers (Powertools,
//! pino, winston, bunyan, structlog, log4j's JSON layouts, Serilog) at ERROR or FATAL with an
//! exception in one of their fields.

use serde_json::{Map, Value};

use super::stack::{self, Frame};
use super::{ErrorKind, ErrorReport, ErrorSignal, Level, type_and_message};

/// Keys a logger names its level with.
const LEVEL_KEYS: &[&str] =
    &["level", "log_level", "levelname", "severity", "@l", "Level", "lvl", "loglevel", "log.level"];
/// Keys a logger names its own message with.
const MESSAGE_KEYS: &[&str] = &["message", "msg", "@m", "@mt", "event", "Message", "MessageTemplate"];

/// The keys of an error document.
const ERROR_DOCUMENT_KEYS: &[&str] =
    &["errorMessage", "errorType", "stackTrace", "requestId", "cause", "trace", "stack"];

/// The first JSON object in `text`, if it parses.
fn first_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::Deserializer::from_str(text).into_iter::<Value>().next()? {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// The error after Node.js's `Invoke Error`: `{"errorType":…,"errorMessage":…,"stack":[…]}`.
pub(super) fn error_json(text: &str) -> Option<ErrorReport> {
    let fields = first_object(text)?;
    let mut report = error_document(&fields).unwrap_or_default();
    if report.error_type.is_none() {
        // A rejection with a reason that is not an Error: `{"reason": …}`.
        report.message = report.message.or_else(|| fields.get("reason").map(value_text));
    }
    Some(report)
}

/// What a JSON log line says about an error, if it reports one (see the module docs); `None`
/// when `text` is no JSON object at all.
pub(super) fn document(text: &str, head_level: Option<Level>) -> Option<Option<ErrorSignal>> {
    let fields = first_object(text)?;
    Some(document_fields(&fields, head_level))
}

fn document_fields(fields: &Map<String, Value>, head_level: Option<Level>) -> Option<ErrorSignal> {
    if fields.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("platform.")) {
        return None;
    }
    let level = level_of(fields).or(head_level);
    if level == Some(Level::Other) {
        return None;
    }
    let logger_message = MESSAGE_KEYS.iter().find_map(|key| fields.get(*key));
    if let Some(mut report) = error_document(fields) {
        let failure_phrase = logger_message
            .and_then(Value::as_str)
            .is_some_and(|m| ["Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection"].contains(&m.trim()));
        let kind = if logger_message.is_none() || failure_phrase { ErrorKind::Failure } else { ErrorKind::Logged };
        report.request_id = request_id(fields);
        return Some(ErrorSignal { kind, report });
    }
    // Lambda's JSON format for Node.js: the error is the `message` object.
    if level == Some(Level::Error)
        && let Some(Value::Object(inner)) = logger_message
        && let Some(mut report) = error_document(inner)
    {
        report.request_id = request_id(fields);
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    }
    if level.is_none()
        && let Some(report) = failed_response(fields)
    {
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    }
    if level != Some(Level::Error) {
        return None;
    }
    let Some(mut report) = logged_exception(fields) else {
        let report = logged_message(fields, logger_message)?;
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    };
    if report.message.is_none() {
        report.message = logger_message.map(value_text).filter(|m| !m.is_empty());
    }
    report.request_id = request_id(fields);
    Some(ErrorSignal { kind: ErrorKind::Logged, report })
}

/// A structured logger's line at ERROR or FATAL without an exception field: an error in the
/// application's own words, as the same line in text is (`{"level":"error","msg":"failed to
/// process message","error":"unexpected end of JSON input"}`), unless it says the application
/// went on without the step that failed.
fn logged_message(fields: &Map<String, Value>, logger_message: Option<&Value>) -> Option<ErrorReport> {
    let said = logger_message.and_then(Value::as_str).map(str::trim).filter(|m| !m.is_empty());
    let error = ["error", "err", "Error", "reason"].iter().find_map(|key| non_empty(fields.get(*key)));
    let text = match (said, error) {
        (Some(said), Some(error)) => format!("{said}: {error}"),
        (Some(said), None) => said.to_owned(),
        (None, Some(error)) => error,
        (None, None) => return None,
    };
    if !super::says_enough(&text) || super::RECOVERED.in_text(&text) {
        return None;
    }
    Some(ErrorReport { message: Some(text), request_id: request_id(fields), ..ErrorReport::default() })
}

/// A response document that says it failed and why: `{"success": false, "error": "Unknown
/// operation: None", …}` (`ok` or `Success` also), as a function returns or prints it.
fn failed_response(fields: &Map<String, Value>) -> Option<ErrorReport> {
    let failed = ["success", "Success", "ok"].iter().any(|key| fields.get(*key) == Some(&Value::Bool(false)));
    let error = ["error", "Error", "errorMessage"].iter().find_map(|key| non_empty(fields.get(*key)))?;
    failed.then(|| ErrorReport { message: Some(error), request_id: request_id(fields), ..ErrorReport::default() })
}

/// `{"errorType", "errorMessage", "stackTrace" | "stack" | "trace"}`: the error document.
fn error_document(fields: &Map<String, Value>) -> Option<ErrorReport> {
    let error_type = non_empty(fields.get("errorType"));
    let message = non_empty(fields.get("errorMessage"));
    let stack = ["stackTrace", "stack", "trace"].iter().find_map(|key| fields.get(*key));
    // `{"errorMessage": …}` alone is an error document too (old Go runtimes), but a message
    // among a logger's other fields is not.
    let only_error_keys = fields.keys().all(|k| ERROR_DOCUMENT_KEYS.contains(&k.as_str()));
    let documented = error_type.is_some()
        || (message.is_some() && (stack.is_some() || fields.contains_key("requestId") || only_error_keys));
    if !documented {
        return None;
    }
    Some(ErrorReport {
        error_type,
        message,
        frames: stack.map(frames_of).unwrap_or_default(),
        request_id: request_id(fields),
    })
}

/// A structured logger's exception: its type, message and frames from whichever field the
/// logger puts them in.
fn logged_exception(fields: &Map<String, Value>) -> Option<ErrorReport> {
    let mut report = ErrorReport::default();
    let mut stack_text: Option<String> = None;
    let mut found = false;
    for key in ["exception", "exc_info", "@x", "Exception", "stack", "stack_trace", "stackTrace", "error.stack_trace"] {
        match fields.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                stack_text.get_or_insert_with(|| text.clone());
                found = true;
            }
            Some(array @ Value::Array(items)) if !items.is_empty() => {
                report.frames = frames_of(array);
                found = true;
            }
            Some(Value::Object(inner)) => {
                found |= read_error_object(inner, &mut report, &mut stack_text);
            }
            _ => {}
        }
    }
    for key in ["err", "error", "thrown"] {
        if let Some(Value::Object(inner)) = fields.get(key) {
            found |= read_error_object(inner, &mut report, &mut stack_text);
        } else if let Some(Value::String(text)) = fields.get(key)
            && (text.contains("\n    at ") || text.contains("Traceback (most recent call last)"))
        {
            stack_text.get_or_insert_with(|| text.clone());
            found = true;
        }
    }
    for (key, slot) in [("exception_name", 0), ("error.type", 0), ("exceptionType", 0), ("error.message", 1)] {
        if let Some(text) = non_empty(fields.get(key)) {
            found = true;
            let target = if slot == 0 { &mut report.error_type } else { &mut report.message };
            target.get_or_insert(text);
        }
    }
    if !found {
        return None;
    }
    if let Some(text) = &stack_text {
        if report.frames.is_empty() {
            report.frames = stack::frames(text);
        }
        let line = text.lines().find(|l| type_and_message(l).is_some()).or_else(|| stack::last_exception_line(text));
        // A Python traceback names its exception last; other stacks first.
        let line =
            if text.contains("Traceback (most recent call last)") { stack::last_exception_line(text) } else { line };
        if let Some((error_type, message)) = line.and_then(type_and_message) {
            report.error_type.get_or_insert_with(|| error_type.to_owned());
            report.message.get_or_insert_with(|| message.to_owned());
        }
    }
    Some(report)
}

/// An error object (`err`, `error`, `thrown`): `type`/`name`, `message`, `stack`.
fn read_error_object(inner: &Map<String, Value>, report: &mut ErrorReport, stack_text: &mut Option<String>) -> bool {
    // A Node.js system error carries its `code` (`ENOENT`) and `errno` instead of a type.
    let error_type =
        ["type", "name", "kind", "errorType", "class", "code"].iter().find_map(|k| non_empty(inner.get(*k)));
    let message = ["message", "errorMessage", "localizedMessage", "msg"].iter().find_map(|k| non_empty(inner.get(*k)));
    let stack =
        ["stack", "stack_trace", "stackTrace", "extendedStackTrace", "trace"].iter().find_map(|k| inner.get(*k));
    if error_type.is_none() && stack.is_none() {
        return false;
    }
    report.error_type = report.error_type.take().or(error_type);
    report.message = report.message.take().or(message);
    match stack {
        Some(Value::String(text)) => {
            stack_text.get_or_insert_with(|| text.clone());
        }
        Some(other) if report.frames.is_empty() => report.frames = frames_of(other),
        _ => {}
    }
    true
}

/// An error document's fields read as text, for a document that does not parse (cut short by
/// a shipper or a copy, or spread one field per event): `"errorType": "…"` and
/// `"errorMessage": "…"`. Needs the type, or the message beside a stack or printed as a field
/// of its own (a pretty-printed invoke response, one field per line).
pub(super) fn quoted_fields(text: &str) -> Option<ErrorReport> {
    let error_type = quoted_field(text, "\"errorType\"");
    let message = quoted_field(text, "\"errorMessage\"");
    let stack = text.contains("\"stackTrace\"") || text.contains("\"stack\"");
    let field_alone = text.trim_start().starts_with("\"errorMessage\"");
    if error_type.is_none() && !(message.is_some() && (stack || field_alone)) {
        return None;
    }
    let frames = stack::frames(&text.replace("\\n", "\n").replace("\",", "\n"));
    Some(ErrorReport { error_type, message, frames, request_id: quoted_field(text, "\"requestId\"") })
}

/// A structured logger's line that does not parse (cut short, or with a copy's ellipsis): at
/// an error level by its `"level"` field, with an exception field, read as text.
pub(super) fn quoted_logged_exception(text: &str) -> Option<ErrorReport> {
    let level = level_word(text).and_then(|word| super::level_of_word(&word)).map(Level::from);
    let exception =
        ["\"exception\"", "\"err\"", "\"error\":", "\"exception_name\"", "\"stack\""].iter().any(|k| text.contains(k));
    if level != Some(Level::Error) || !exception {
        return None;
    }
    let error_type = ["\"exception_name\"", "\"type\"", "\"name\""].iter().find_map(|k| quoted_field(text, k));
    let message = ["\"message\"", "\"msg\""].iter().find_map(|k| quoted_field(text, k));
    Some(ErrorReport { error_type, message, frames: stack::frames(&text.replace("\\n", "\n")), request_id: None })
}

/// The string after `key` and a colon, its escapes undone, up to its closing quote or the
/// end of the text.
fn quoted_field(text: &str, key: &str) -> Option<String> {
    let after = &text[text.find(key)? + key.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = after.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(other) => value.push(other),
                None => break,
            },
            c => value.push(c),
        }
    }
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Frames from a stack as a string, an array of strings, or log4j's array of
/// `{"class", "method", "file"}` objects.
fn frames_of(stack: &Value) -> Vec<Frame> {
    match stack {
        Value::String(text) => stack::frames(text),
        Value::Array(items) => {
            let mut text = String::new();
            for item in items.iter().take(256) {
                match item {
                    Value::String(line) => text.push_str(line),
                    Value::Object(frame) => {
                        let part = |k: &str| frame.get(k).and_then(Value::as_str).unwrap_or("");
                        if frame.contains_key("label") {
                            // aws-lambda-go's panic frames: `{"path", "line", "label"}`.
                            text.push_str(&format!("at {} ({}:0)", part("label"), part("path")));
                        } else {
                            text.push_str(&format!("at {}.{}({}:0)", part("class"), part("method"), part("file")));
                        }
                    }
                    _ => {}
                }
                text.push('\n');
            }
            stack::frames(&text)
        }
        _ => Vec::new(),
    }
}

/// The level word (or pino's number, as text) of a JSON line's level field, read as text
/// without parsing the document: `"level":"debug"`, `"log_level": "INFO"`, `"level":30`.
pub(super) fn level_word(text: &str) -> Option<String> {
    LEVEL_KEYS.iter().find_map(|key| {
        let quoted = format!("\"{key}\"");
        let after = &text[text.find(&quoted)? + quoted.len()..];
        let value = after.trim_start().strip_prefix(':')?.trim_start();
        match value.strip_prefix('"') {
            Some(rest) => rest.split('"').next().map(str::to_owned),
            None => Some(value.chars().take_while(char::is_ascii_digit).collect()).filter(|d: &String| !d.is_empty()),
        }
    })
}

fn level_of(fields: &Map<String, Value>) -> Option<Level> {
    LEVEL_KEYS.iter().find_map(|key| match fields.get(*key)? {
        Value::String(word) => Level::of_word(word),
        // pino and bunyan: 50 error, 60 fatal; 40 warn and below.
        Value::Number(n) => n.as_u64().map(|n| if n >= 50 { Level::Error } else { Level::Other }),
        _ => None,
    })
}

fn request_id(fields: &Map<String, Value>) -> Option<String> {
    ["requestId", "request_id", "aws_request_id", "awsRequestId", "function_request_id"]
        .iter()
        .find_map(|key| non_empty(fields.get(*key)))
}

fn non_empty(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
