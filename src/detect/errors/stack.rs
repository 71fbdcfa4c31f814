//! Stack frames as each runtime prints them, and which of them are the application's own:
//! the fingerprint groups an error by the application's frames, not by the runtime's or a
//! library's, and never by a line number.

use std::fmt;

use super::type_and_message;

/// The most frames read from one stack.
const MAX_FRAMES: usize = 64;

/// One stack frame, without its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function or method (`handler`, `com.acme.Orders.place`), empty when not printed.
    pub function: String,
    /// The file, as printed, without the deployment root (`/var/task/`).
    pub file: String,
    /// The application's own code, not the runtime's, the language's or a dependency's.
    pub in_app: bool,
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.function.is_empty(), self.file.is_empty()) {
            (false, false) => write!(f, "{} ({})", self.function, self.file),
            (false, true) => f.write_str(&self.function),
            (true, _) => f.write_str(&self.file),
        }
    }
}

/// The innermost frame of the application's own code.
pub fn top_in_app_frame(frames: &[Frame]) -> Option<&Frame> {
    frames.iter().find(|frame| frame.in_app)
}

/// The frames `text` holds, innermost first, in the formats of Node.js (`at f (file:1:2)`),
/// Python (`File "…", line 8, in f`), Java (`at a.B.c(B.java:4)`), .NET (`at A.B() in
/// file:line 4`), Go (`main.f(…)` then `\t/file.go:12 +0x1d`) and Ruby (`file:10:in 'f'`).
pub fn frames(text: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut python = false;
    let mut previous: &str = "";
    for line in text.lines() {
        if frames.len() >= MAX_FRAMES {
            break;
        }
        let trimmed = line.trim();
        let frame = if let Some(after) = trimmed.strip_prefix("File \"") {
            python = true;
            python_frame(after)
        } else if let Some(after) = trimmed.strip_prefix("at ") {
            at_frame(after)
        } else if trimmed.starts_with('/') && trimmed.contains(".go:") && !previous.is_empty() {
            go_frame(previous, trimmed)
        } else if trimmed.contains(":in ") {
            ruby_frame(trimmed)
        } else {
            java_frame(trimmed)
        };
        frames.extend(frame);
        previous = trimmed;
    }
    if python {
        // "most recent call last": the innermost frame is printed last.
        frames.reverse();
    }
    frames
}

/// The last line of `text` that reads `Type: message`: a Python traceback's exception.
pub(super) fn last_exception_line(text: &str) -> Option<&str> {
    text.lines().rev().filter(|line| !line.starts_with([' ', '\t'])).find(|line| type_and_message(line).is_some())
}

fn frame(function: &str, file: &str) -> Frame {
    let file = file.trim().trim_start_matches("file://");
    let file = file.strip_prefix("/var/task/").unwrap_or(file);
    let function = function.trim();
    Frame { function: function.to_owned(), file: file.to_owned(), in_app: in_app(function, file) }
}

/// `/var/task/app.py", line 8, in handler`
fn python_frame(after: &str) -> Option<Frame> {
    let (file, rest) = after.split_once('"')?;
    let function = rest.split_once(", in ").map(|(_, f)| f.split_whitespace().next().unwrap_or("")).unwrap_or("");
    Some(frame(function, file))
}

/// After `at `: Node.js (`f (file:1:2)`, `file:1:2`), Java (`a.B.c(B.java:4)`) or .NET
/// (`A.B(String x) in /src/B.cs:line 4`, `A.B()`).
fn at_frame(after: &str) -> Option<Frame> {
    if let Some((function, location)) = after.split_once(" in ").filter(|(f, _)| f.contains('(')) {
        let function = function.split('(').next().unwrap_or("");
        let file = location.rsplit_once(":line ").map_or(location, |(file, _)| file);
        return Some(frame(function, file));
    }
    if let Some(open) = after.rfind(" (") {
        let location = after[open + 2..].trim_end_matches(')');
        return Some(frame(&after[..open], without_line(location)));
    }
    if let Some(open) = after.find('(') {
        let location = after[open + 1..].trim_end_matches(')');
        let file = location.split(':').next().unwrap_or("");
        return Some(frame(&after[..open], file));
    }
    // `at /var/task/index.js:5:20`
    let location = without_line(after);
    (location.contains('/') || location.contains('.')).then(|| frame("", location))
}

/// `com.acme.Handler.handleRequest(Handler.java:42)`, as a Java error document lists frames.
fn java_frame(line: &str) -> Option<Frame> {
    let (function, location) = line.split_once('(')?;
    let location = location.strip_suffix(')')?;
    let source = [".java:", ".kt:", ".scala:", ".groovy:"].iter().any(|ext| location.contains(ext))
        || matches!(location, "Unknown Source" | "Native Method");
    let plain = function.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$' | '<' | '>'));
    (source && plain && function.contains('.')).then(|| frame(function, location.split(':').next().unwrap_or("")))
}

/// Go: the function line before `\t/var/task/main.go:12 +0x1d`.
fn go_frame(function_line: &str, file_line: &str) -> Option<Frame> {
    let function = function_line.rsplit_once('(').map_or(function_line, |(f, _)| f);
    let file = file_line.split(".go:").next()?;
    Some(frame(function, &format!("{file}.go")))
}

/// Ruby: `/var/task/app.rb:10:in 'handler'` or `` …:in `block in handler' ``.
fn ruby_frame(line: &str) -> Option<Frame> {
    let (location, function) = line.split_once(":in ")?;
    let file = location.split(':').next()?;
    if !file.ends_with(".rb") {
        return None;
    }
    let function = function.trim_matches(|c: char| matches!(c, '\'' | '`' | '"'));
    Some(frame(function, file))
}

/// `file.js:5:20` → `file.js`: the location without its line and column.
fn without_line(location: &str) -> &str {
    let mut location = location;
    for _ in 0..2 {
        match location.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => location = head,
            _ => break,
        }
    }
    location
}

/// Whether a frame is the application's: not the runtime's, the language's, a framework's or a
/// dependency's (`node_modules`, `site-packages`, gems, the JDK, `System.`, Go's `runtime.`).
fn in_app(function: &str, file: &str) -> bool {
    const LIBRARY_FILES: &[&str] = &[
        "node:",
        "internal/",
        "node_modules",
        "/var/runtime/",
        "/var/lang/",
        "site-packages",
        "dist-packages",
        "<frozen",
        "/opt/",
        "/usr/local/go/",
        "/usr/lib/",
        "/gems/",
        "vendor/bundle",
        "<anonymous>",
        "native",
        "github.com/aws/aws-lambda-go",
    ];
    const LIBRARY_FUNCTIONS: &[&str] = &[
        "java.",
        "javax.",
        "jdk.",
        "sun.",
        "com.sun.",
        "com.amazonaws.",
        "software.amazon.",
        "lambdainternal.",
        "kotlin.",
        "scala.",
        "org.springframework.",
        "org.apache.",
        "com.fasterxml.",
        "io.netty.",
        "reactor.",
        "System.",
        "Microsoft.",
        "Amazon.Lambda.",
        "Amazon.Runtime.",
        "Newtonsoft.",
        "runtime.",
        "reflect.",
        "github.com/aws/aws-lambda-go/",
        "net/http.",
    ];
    if file.is_empty() && function.is_empty() {
        return false;
    }
    !LIBRARY_FILES.iter().any(|marker| file.contains(marker))
        && !file.starts_with("runtime/")
        && !LIBRARY_FUNCTIONS.iter().any(|prefix| function.starts_with(prefix))
}
