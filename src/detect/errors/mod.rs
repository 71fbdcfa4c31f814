//! Errors no rule names: what a failed invocation or a logged exception says about itself.
//!
//! Every runtime reports an unhandled error in its own shape, and structured loggers add more.
//! [`extract`] reads one log message and, when it is one of these shapes, returns the error's
//! own fields: its type, its message, its stack frames, the request it belongs to, and whether
//! the runtime reported it as the invocation's failure or the application logged it:
//!
//! | shape | example | kind |
//! | --- | --- | --- |
//! | Node.js, text | `<time>\t<id>\tERROR\tInvoke Error \t{"errorType":…}` (also `Uncaught Exception`, `Unhandled Promise Rejection`) | failure |
//! | an error document | `{"errorMessage":…,"errorType":…,"stackTrace":[…]}` (every runtime's invoke response, Lambda's JSON format) | failure |
//! | Python | `[ERROR] ValueError: …` + `Traceback (most recent call last):` | failure |
//! | Java, .NET, Go, Rust | `Exception in thread "main" …`, `Unhandled exception. System.…`, `panic: …`, `thread 'main' panicked at …` | failure |
//! | a line at ERROR or FATAL with an exception | `[ERROR]\t<time>\t<id>\tKeyError: 'x'`, `<time>\t<id>\tERROR\tTypeError: …\n    at …` | logged |
//! | a structured logger at ERROR or FATAL with an exception | Powertools, pino, winston, structlog, log4j and Serilog JSON | logged |
//! | a line at ERROR in words that say it failed | `ERROR : Error stopping …`, `{"level":"error","msg":…,"error":…}`, .NET's `fail: Category[0]` | logged |
//! | a caller quoting the function's error | API Gateway's `Endpoint response body before transformations: {"errorMessage":…}` | failure |
//!
//! A logged error in an invocation that failed is that failure's error (the correlation step
//! decides). Nothing here is a rule: rules explain failures; this module only says that there
//! was one, in the error's own words, for the failures that no rule explains. The message is
//! read once and every step is linear in its length.
//!
//! The head read before the shapes: Lambda's time, request id and level in every copy of them,
//! `aws logs tail`'s log stream, and Netlify's `Jun 8, 12:12:43 AM: 00634a06 ERROR`. Node.js
//! tags all of stderr ERROR, so there a line without a type or a stack must say it failed.
//!
//! Over 400 lines, with its tests apart: the head of a line (time, request id, level) and the
//! text shapes that read it are one reading of one line; the JSON shapes (`structured`), the
//! stacks (`stack`) and the grouping (`fingerprint`) are files of their own.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use crate::detect::platform::netlify_stamp;

mod fingerprint;
pub(crate) mod stack;
mod structured;

#[cfg(test)]
mod tests;

pub use fingerprint::{FINGERPRINT_VERSION, fingerprint, mask, title};
pub use stack::{Frame, top_in_app_frame};

/// Phrases whose presence (in any case) makes a message worth reading with [`extract`]: every
/// shape above holds one. They ride in the catalog's anchor pass
/// ([`crate::rules::ScanScratch::error_signal`]), so a message without any costs nothing more.
pub use crate::rules::ERROR_SIGNALS;

/// API Gateway's execution log line that quotes the integration's (the function's) response.
const GATEWAY_RESPONSE: &str = "Endpoint response body before transformations: ";

/// How an application opens a line about an error nothing caught (`Unhandled error: …`).
const UNHANDLED_OPENERS: &[&str] =
    &["Unhandled error:", "Unhandled exception:", "Uncaught error:", "Uncaught exception:"];

/// The longest error type kept; a longer "type" is not one.
const MAX_TYPE_CHARS: usize = 160;

/// How the error was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The runtime reported it as the invocation's (or the init's) failure.
    Failure,
    /// The application logged it at ERROR or FATAL level, with a type or a stack.
    Logged,
}

/// An error as the log line states it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorReport {
    /// The error type (`TypeError`, `java.lang.NullPointerException`, `Function<NoMethodError>`).
    pub error_type: Option<String>,
    /// The error's message, as printed.
    pub message: Option<String>,
    /// The stack frames, innermost first, as far as the line shows them.
    pub frames: Vec<Frame>,
    /// The request id the line names, if any.
    pub request_id: Option<String>,
}

/// One error signal found in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSignal {
    /// Reported by the runtime as a failure, or logged by the application.
    pub kind: ErrorKind,
    /// What the line says about the error.
    pub report: ErrorReport,
}

/// The error a message reports, if it is one of the shapes in the module docs.
pub fn extract(message: &str) -> Option<ErrorSignal> {
    let message = message.trim_end();
    let head = Head::parse(message);
    let rest = head.rest;
    // Node.js's failure phrases, then a JSON document after the head.
    for phrase in ["Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection"] {
        if let Some(after) = rest.strip_prefix(phrase) {
            let after = after.trim_start();
            let mut signal =
                structured::error_json(after).or_else(|| structured::quoted_fields(after)).unwrap_or_default();
            signal.request_id = signal.request_id.or_else(|| head.request_id.map(str::to_owned));
            if phrase == "Unhandled Promise Rejection" && signal.error_type.is_none() {
                signal.error_type = Some("Runtime.UnhandledPromiseRejection".into());
            }
            return Some(ErrorSignal { kind: ErrorKind::Failure, report: signal });
        }
    }
    // API Gateway's execution log quotes the function's response: an error document there is
    // the invocation's failure as the caller saw it.
    if let Some((_, response)) = rest.split_once(GATEWAY_RESPONSE)
        && let Some(report) = structured::error_json(response).filter(|r| r.message.is_some() || r.error_type.is_some())
    {
        return Some(ErrorSignal { kind: ErrorKind::Failure, report });
    }
    if rest.starts_with('{')
        && let Some(verdict) = structured::document(rest, head.level)
    {
        // A JSON log line says what it is in its own fields, whatever its text holds.
        let mut signal = verdict?;
        signal.report.request_id = signal.report.request_id.or_else(|| head.request_id.map(str::to_owned));
        return Some(signal);
    }
    // An error document a shipper or a copy cut short, or printed one field an event (Ruby's
    // runtime in a container): its `"errorType": "…"` still says what failed.
    if let Some(report) = structured::quoted_fields(rest).filter(|_| head.level != Some(Level::Other)) {
        let report = ErrorReport { request_id: report.request_id.or(head.request_id.map(str::to_owned)), ..report };
        return Some(ErrorSignal { kind: ErrorKind::Failure, report });
    }
    if rest.starts_with('{')
        && let Some(report) = structured::quoted_logged_exception(rest)
    {
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    }
    // An application that says an error went unhandled, whatever level it printed that at.
    if UNHANDLED_OPENERS.iter().any(|opener| rest.get(..opener.len()).is_some_and(|o| o.eq_ignore_ascii_case(opener))) {
        let report = ErrorReport {
            message: Some(rest.lines().next().unwrap_or("").trim().to_owned()),
            request_id: head.request_id.map(str::to_owned),
            ..ErrorReport::default()
        };
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    }
    let Some(mut signal) = text(rest, &head) else {
        return logged_line(message, rest, &head);
    };
    signal.report.request_id = head.request_id.map(str::to_owned);
    Some(signal)
}

/// A fixed list of words, found in any ASCII case in one pass over a text (an automaton built
/// once, on first use): a message may be 256 KiB, and trying each word at every position
/// would read it once a word.
pub(crate) struct Words(LazyLock<AhoCorasick>);

impl Words {
    /// The words of `build`'s list; `build` is called once.
    pub(crate) const fn new(build: fn() -> AhoCorasick) -> Self {
        Self(LazyLock::new(build))
    }

    /// Whether `text` holds any of the words.
    pub(crate) fn in_text(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// The automaton of a constant word list, case-insensitive in ASCII.
///
/// # Panics
///
/// Never for the short constant lists it is given (their automata are far under any limit);
/// each is used by the tests.
#[allow(clippy::expect_used)]
pub(crate) fn automaton(words: &[&str]) -> AhoCorasick {
    AhoCorasick::builder().ascii_case_insensitive(true).build(words).expect("a constant word list always compiles")
}

/// Words of a line that says the application went on without the failed step.
static RECOVERED: Words = Words::new(|| {
    automaton(&[
        "falling back",
        "fall back",
        "fallback",
        "retrying",
        "will retry",
        "ignoring",
        "skipping",
        "continuing",
        "using default",
        "error handled",
    ])
});

/// Words that say something failed: the anchor pass's own list, read here only in the text of a
/// line at ERROR that has no type or stack.
static SAYS_IT_FAILED: Words = Words::new(|| automaton(crate::rules::FAILURE_WORDS));

/// Words that name an error in a sentence.
static NAMES_AN_ERROR: Words = Words::new(|| automaton(&["error", "exception"]));

/// The fewest letters a line at ERROR needs, past its level, to be an error in its own words.
const MIN_LOGGED_LETTERS: usize = 8;

/// Whether a logged line's own words (past its level) are enough to be an error: a few words,
/// not a bare code or mark.
fn says_enough(said: &str) -> bool {
    said.chars().filter(char::is_ascii_alphabetic).count() >= MIN_LOGGED_LETTERS
}

/// A line without an exception type or stack that still reports an error: its logger wrote it
/// at ERROR or FATAL (`[ERROR]\t<time>\t<id>\tlist indices must be integers …`, `ERROR : Error
/// stopping rds instance …`, `level=error msg=…`), or it is Python runtime's `LAMBDA_WARNING:
/// Unhandled exception.`, which follows an error the handler did not catch. An error the
/// application logged, in its own words (the correlation step makes it a failed invocation's).
fn logged_line(message: &str, rest: &str, head: &Head<'_>) -> Option<ErrorSignal> {
    let logged = |error_type: Option<&str>, text: &str| {
        let report = ErrorReport {
            error_type: error_type.map(str::to_owned),
            message: Some(text.to_owned()),
            frames: Vec::new(),
            request_id: head.request_id.map(str::to_owned),
        };
        Some(ErrorSignal { kind: ErrorKind::Logged, report })
    };
    if let Some(at) = message.find("LAMBDA_WARNING: Unhandled exception") {
        return logged(Some("Runtime.Unhandled"), message[at + "LAMBDA_WARNING: ".len()..].lines().next()?.trim());
    }
    // The level as a logger writes it (`ERROR`, `FATAL`, `CRITICAL`, `level=error`), not an error
    // message that opens with `Error:`; and not a runtime's warning printed to stderr.
    // .NET's console logger writes its level as `fail:` or `crit:` before the category
    // (`fail: MyFunction.Function[0]`).
    let logger_level = ["ERROR", "FATAL", "CRITICAL", "level=error", "level=fatal"].iter().any(|w| message.contains(w))
        || is_dotnet_failure(message.trim_start());
    if !logger_level || stated_level(message) != Some(StatedLevel::Error) || message.contains("Warning:") {
        return None;
    }
    // A line that says the application went on (`falling back`, `retrying`) handled what it logged.
    if RECOVERED.in_text(message) {
        return None;
    }
    // What the line says past a level word and its punctuation (`ERROR : `, `[ERROR] `).
    let said = rest.lines().next().unwrap_or("").trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let word = said.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    let said = match level_of_word(word) {
        Some(_) => said[word.len()..].trim_start_matches(|c: char| !c.is_ascii_alphanumeric()),
        None => said,
    }
    .trim();
    says_enough(said).then_some(())?;
    // Node.js tags everything written to stderr ERROR (`console.error`, and Netlify's copy of
    // it), so there, without a type or a stack, the words must say something failed: a
    // library's own debug output (`ERROR\tprisma:info  Starting a pool`) is no error. A
    // logger's ERROR (Python's `[ERROR]`, log4j's) is the application's own verdict.
    if head.stderr_tagged && !SAYS_IT_FAILED.in_text(rest.lines().next().unwrap_or("")) {
        return None;
    }
    logged(None, said)
}

/// .NET's console logger at its Error or Critical level: `fail: <Category>[<event id>]`,
/// `crit: …`.
fn is_dotnet_failure(rest: &str) -> bool {
    rest.strip_prefix("fail: ")
        .or_else(|| rest.strip_prefix("crit: "))
        .and_then(|after| after.split_whitespace().next())
        .is_some_and(|category| category.ends_with(']') && category.contains('['))
}

/// The level a line states for itself, by its logger's level word or JSON level field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatedLevel {
    /// DEBUG, TRACE, VERBOSE.
    Diagnostic,
    /// INFO, NOTICE.
    Info,
    /// WARN, WARNING.
    Warning,
    /// ERROR, FATAL, CRITICAL and their spellings.
    Error,
}

/// The level `message` states at its start (a runtime's or logger's prefix, `[WARNING]`,
/// `\tINFO\t`) or in its JSON `level` field (`"level":"debug"`, pino's numbers); `None` when
/// it states none.
pub fn stated_level(message: &str) -> Option<StatedLevel> {
    let message = message.trim_start();
    let message = netlify_stamp(message).map_or(message, |(stamp, _)| &message[stamp..]);
    let word = if message.starts_with('{') {
        structured::level_word(message)?
    } else {
        // Numbers are levels only in a JSON field (pino's 30); in text they are anything.
        let mut words = message.split(['\t', ' ']).filter(|w| !w.is_empty() && !is_log_stream(w)).take(5);
        match words.find(|word| Level::of_word(word).is_some()) {
            // An application logger's own capital level after the runtime's INFO (see `Head`).
            Some(word)
                if level_of_word(word) == Some(StatedLevel::Info) && words.next().is_some_and(is_logger_error_word) =>
            {
                return Some(StatedLevel::Error);
            }
            Some(word) => word.to_owned(),
            None => return named_level(message),
        }
    };
    level_of_word(&word)
}

/// How far into a line [`named_level`] looks for its level.
const NAMED_LEVEL_BYTES: usize = 256;

/// A level named further into a line's head: logfmt's `level=warning` (logrus, Lambda's
/// runtime interface emulator, Go services), a bracketed level after a longer time, or a
/// field between separators (Python logging's `<time> - <logger> - DEBUG -`, an extension's
/// `UTC | DD_EXTENSION | WARN |`).
fn named_level(message: &str) -> Option<StatedLevel> {
    let mut end = message.len().min(NAMED_LEVEL_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let head = &message[..end];
    // Each form is looked for only where its mark occurs (this runs for many messages).
    if head.contains("level=") || head.contains("lvl=") {
        let logfmt =
            head.split([' ', '\t']).find_map(|field| field.strip_prefix("level=").or(field.strip_prefix("lvl=")));
        if let Some(value) = logfmt {
            return level_of_word(value);
        }
    }
    // A bracketed level after a longer time (`08 Nov 2023 15:45:15,570 [WARNING] (rapid) …`).
    if head.contains('[') {
        let bracketed = head.split([' ', '\t']).filter(|w| w.len() > 2 && w.starts_with('[') && w.ends_with(']'));
        if let Some(level) = bracketed.take(3).find_map(level_of_word) {
            return Some(level);
        }
    }
    [" - ", " | "].iter().filter(|separator| head.contains(**separator)).find_map(|separator| {
        head.split(separator).skip(1).take(4).find_map(|part| level_of_word(part.split_whitespace().next()?))
    })
}

/// The one vocabulary of level words (and pino's and bunyan's numbers) every reading of a
/// line's level uses.
pub(crate) fn level_of_word(word: &str) -> Option<StatedLevel> {
    use StatedLevel::{Diagnostic, Error, Info, Warning};
    const LEVELS: &[(&str, StatedLevel)] = &[
        ("debug", Diagnostic),
        ("dbug", Diagnostic),
        ("trace", Diagnostic),
        ("trce", Diagnostic),
        ("verbose", Diagnostic),
        ("10", Diagnostic),
        ("20", Diagnostic),
        ("info", Info),
        ("information", Info),
        ("notice", Info),
        ("30", Info),
        ("warn", Warning),
        ("warning", Warning),
        ("40", Warning),
        ("error", Error),
        ("err", Error),
        ("fatal", Error),
        ("critical", Error),
        ("crit", Error),
        ("emerg", Error),
        ("emergency", Error),
        ("alert", Error),
        ("fail", Error),
        ("50", Error),
        ("60", Error),
    ];
    let word = word.trim_matches(|c: char| matches!(c, '[' | ']' | ':' | '"' | '(' | ')'));
    // Compared in place, without a lower-cased copy: this runs for the first words of every
    // message a rule matched.
    LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|&(_, level)| level)
}

/// A level a line was written at, as far as errors go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// ERROR, FATAL, CRITICAL and their spellings.
    Error,
    /// Anything else a logger names (INFO, WARN, DEBUG, …).
    Other,
}

impl Level {
    /// The level a logger's level word names, if it is one (a number is a level only in a JSON
    /// field, [`level_of_word`]).
    pub(crate) fn of_word(word: &str) -> Option<Self> {
        if word.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        level_of_word(word).map(Self::from)
    }
}

impl From<StatedLevel> for Level {
    fn from(level: StatedLevel) -> Self {
        if level == StatedLevel::Error { Self::Error } else { Self::Other }
    }
}

/// What runtimes put before a message: a time, a request id, a level, in the orders Lambda's
/// runtimes print them (`<time>\t<id>\tERROR\t…`, `[ERROR]\t<time>\t<id>\t…`, `[ERROR] …`).
#[derive(Debug, Clone, Copy)]
struct Head<'a> {
    level: Option<Level>,
    /// `[ERROR]` came first: Python's runtime prints an unhandled error as `[ERROR] Type: …`.
    bracketed_level_first: bool,
    /// The level is INFO (Node.js's `console.log`).
    at_info: bool,
    /// The level is Node.js's tag for whatever went to stderr (`<time>\t<id>\tERROR\t…`,
    /// Netlify's copy of it), not a logger's verdict.
    stderr_tagged: bool,
    request_id: Option<&'a str>,
    rest: &'a str,
}

impl<'a> Head<'a> {
    fn parse(message: &'a str) -> Self {
        let mut head = Head {
            level: None,
            bracketed_level_first: false,
            at_info: false,
            stderr_tagged: false,
            request_id: None,
            rest: message.trim_start(),
        };
        if let Some((stamp, id)) = netlify_stamp(head.rest) {
            head.rest = &head.rest[stamp..];
            head.request_id = id;
            head.stderr_tagged = true;
        }
        for position in 0..5 {
            let rest = head.rest;
            let end = rest.find(['\t', ' ', '\n']).unwrap_or(rest.len());
            let token = &rest[..end];
            if token.is_empty() {
                break;
            }
            if is_uuid(token) {
                head.request_id = Some(token);
            } else if is_timestamp(token) || is_log_stream(token) {
                // A date and a time apart (`2024-03-04 17:22:38,033`) are one stamp; `aws logs
                // tail` and `sam logs` print the log stream (`2024/03/04/[$LATEST]94fa…`) first.
            } else if crate::detect::platform::looks_like_request_id(token) && token.len() >= 8 {
                head.request_id = Some(token);
            } else if let Some(level) = Level::of_word(token).filter(|_| head.level.is_none()) {
                head.level = Some(level);
                head.at_info = level_of_word(token) == Some(StatedLevel::Info);
                head.bracketed_level_first = position == 0 && token.starts_with('[');
                head.stderr_tagged |= position > 0 && token == "ERROR" && rest[end..].starts_with('\t');
            } else if head.at_info && is_logger_error_word(token) {
                // `console.log` of a line an application's logger already formatted
                // (`INFO\tERROR NodeMasterController - …`): the logger's level is the line's.
                head.level = Some(Level::Error);
                head.at_info = false;
            } else if token == "undefined" || token == "-" || (head.level.is_none() && next_is_level(&rest[end..])) {
                // Node.js prints `undefined` for the request id outside an invocation; a copy may
                // show a placeholder (`xxxxx`) where the id stood before the level.
            } else {
                break;
            }
            head.rest = rest[end..].trim_start_matches([' ', '\t']);
        }
        head.rest = head.rest.trim_start();
        head
    }
}

/// An error level word as a logger writes it, in capitals (`ERROR`, `FATAL`, `[ERROR]`), not a
/// sentence's word.
fn is_logger_error_word(token: &str) -> bool {
    token.bytes().all(|b| !b.is_ascii_lowercase()) && Level::of_word(token) == Some(Level::Error)
}

/// Whether the next token of `rest` is a level word.
fn next_is_level(rest: &str) -> bool {
    let rest = rest.trim_start_matches([' ', '\t']);
    let token = rest.split(['\t', ' ', '\n']).next().unwrap_or("");
    // As a runtime prints it (`ERROR`), not a sentence's word (`An error occurred`).
    is_logger_error_word(token)
}

/// A UUID (8-4-4-4-12 hex digits), as Lambda's request ids are, even one of decimal digits only.
fn is_uuid(token: &str) -> bool {
    let groups: Vec<&str> = token.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A Lambda log stream's name (`2024/03/04/[$LATEST]94fa…`), as `aws logs tail` prints it.
fn is_log_stream(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.len() > 12 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'/' && token.contains("/[")
}

fn is_timestamp(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.len() >= 8
        && bytes[0].is_ascii_digit()
        && bytes.iter().all(|b| b.is_ascii_digit() || b"-:T.Z+,/".contains(b))
        && bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 6
}

/// Plain-text shapes after the head.
fn text(rest: &str, head: &Head<'_>) -> Option<ErrorSignal> {
    let first_line = rest.lines().next().unwrap_or("");
    if let Some(signal) = runtime_failure_line(rest, first_line) {
        return Some(signal);
    }
    let at_error = head.level == Some(Level::Error);
    if at_error && (rest.starts_with("Lambda runtime invoke") || rest.starts_with("lambda_runtime")) {
        // Rust's lambda_runtime logs the error it returns for the invocation at ERROR.
        let report = ErrorReport { message: Some(first_line.trim().to_owned()), ..ErrorReport::default() };
        return Some(ErrorSignal { kind: ErrorKind::Failure, report });
    }
    let typed = typed_line(rest, at_error).or_else(|| {
        // Python's runtime prints the exception's class, whatever its name, after `[ERROR] `.
        let (class, message) = first_line.split_once(": ")?;
        let class_name = class.starts_with(|c: char| c.is_ascii_uppercase())
            && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        (head.bracketed_level_first && at_error && class_name).then_some(Typed {
            error_type: class,
            message,
            first: true,
            qualified: false,
        })
    });
    let frames = stack::frames(rest);
    let traceback = rest.contains("Traceback (most recent call last):");
    if typed.is_none() && frames.is_empty() && !traceback {
        return None;
    }
    // Without a level, a traceback or a typed stack is an exception printed to stderr, and so
    // is a Java exception named by its qualified class; at INFO or WARN it was handled.
    // So is a line that opens with an error type and its message (`AxiosError: Request failed
    // with status code 404`, `Error: …`), as a runtime or a console prints an error it throws.
    let qualified = typed.is_some_and(|t| t.qualified);
    let opens_with_type = typed.is_some_and(|t| t.first && !t.message.is_empty());
    let unlevelled_exception = head.level.is_none()
        && (traceback || (typed.is_some() && (!frames.is_empty() || qualified)) || opens_with_type);
    if !at_error && !unlevelled_exception && !printed_error_object(rest, head) {
        return None;
    }
    let (error_type, message) = match typed {
        Some(typed) => (Some(typed.error_type.to_owned()), Some(typed.message.to_owned())),
        // A traceback's last line names the exception; a logged message stands before it.
        None => match stack::last_exception_line(rest).and_then(type_and_message) {
            Some((error_type, message)) => (Some(error_type.to_owned()), Some(message.to_owned())),
            None => (None, Some(first_line.trim().to_owned()).filter(|m| !m.is_empty())),
        },
    };
    let kind = if head.bracketed_level_first && typed.is_some_and(|t| t.first) && head.request_id.is_none() {
        // `[ERROR] ValueError: …`: how Python's runtime prints the error that ended the invocation.
        ErrorKind::Failure
    } else {
        ErrorKind::Logged
    };
    let message = message.filter(|m| !m.is_empty());
    Some(ErrorSignal { kind, report: ErrorReport { error_type, message, frames, request_id: None } })
}

/// Node.js's `console.log(error)`: the runtime writes it at INFO, as the error's own
/// `Error: message` (its stack below), so a line at INFO that opens with an error type and its
/// message is an error the application printed, unless it says it went on without the step.
fn printed_error_object(rest: &str, head: &Head<'_>) -> bool {
    let first_line = rest.lines().next().unwrap_or("");
    head.at_info
        && type_and_message(first_line).is_some_and(|(_, message)| !message.is_empty())
        && !RECOVERED.in_text(first_line)
}

/// Openers of a line that states a failure in words, with no level and no error type
/// (`Failed to connect to …`, `Unable to import module …`, `Could not load …`).
///
/// `Error …` and `Fatal …` are not among them: the head reads a line's first `Error` or `Fatal`
/// as its level, and such a line is read at ERROR ([`logged_line`]).
const FAILURE_OPENERS: &[&str] =
    &["Failed ", "Failure ", "Unable to ", "Could not ", "Couldn't ", "Cannot ", "Can't ", "Unhandled ", "Uncaught "];

/// A line with no level that opens by saying something failed and names the error (`Unable to
/// generate thumbnail … due to error: …`, `Failed to load config: Error: ENOENT …`): an error
/// the application printed in its own words, as a plain `print` or `console.log` writes it.
/// Not a line that says the application went on without the step, nor a count (`Failed 0`).
pub fn failure_statement(message: &str) -> Option<ErrorSignal> {
    let message = message.trim_end();
    let head = Head::parse(message);
    if head.level.is_some() || stated_level(message).is_some() {
        return None;
    }
    // A console's mark before it (`✖ Unhandled exception in handler 'hello'.`, `❌ Failed …`).
    let said = head.rest.lines().next().unwrap_or("").trim_start_matches(|c: char| !c.is_ascii()).trim();
    if let Some((error_type, text)) = message_then_type(said)
        && !RECOVERED.in_text(said)
    {
        let report = ErrorReport {
            error_type: Some(error_type.to_owned()),
            message: Some(text.trim().to_owned()),
            frames: Vec::new(),
            request_id: head.request_id.map(str::to_owned),
        };
        return Some(ErrorSignal { kind: ErrorKind::Logged, report });
    }
    let opener = FAILURE_OPENERS.iter().find(|opener| said.starts_with(**opener))?;
    let after = &said[opener.len()..];
    let counted = after.trim_start_matches([':', ' ']).starts_with(|c: char| c.is_ascii_digit());
    // The failure names an error (`… due to error: …`, `… with exception …`): a business outcome
    // printed as a sentence (`Failed to invite user …: channel_not_found`) is not one.
    let names_an_error = NAMES_AN_ERROR.in_text(after);
    if counted
        || !names_an_error
        || RECOVERED.in_text(said)
        || said.chars().filter(char::is_ascii_alphabetic).count() < 16
    {
        return None;
    }
    let report = ErrorReport {
        error_type: None,
        message: Some(said.to_owned()),
        frames: Vec::new(),
        request_id: head.request_id.map(str::to_owned),
    };
    Some(ErrorSignal { kind: ErrorKind::Logged, report })
}

/// An error type and its message, read from a line of text.
#[derive(Debug, Clone, Copy)]
struct Typed<'a> {
    error_type: &'a str,
    message: &'a str,
    /// The type opens the first line (`TypeError: …`).
    first: bool,
    /// The type is a qualified class name (`java.lang.IllegalStateException`).
    qualified: bool,
}

/// The error a text names in one of its first lines, in the forms runtimes print:
/// `Type: message`; Java's and old Python's `message: Type`; a type alone on its line (Java's
/// `java.lang.NullPointerException` above its frames); Ruby's `file:1:in 'm': message (Type)`;
/// and, at ERROR level, a type inside a logger's line (`Failed to start: com.acme.BadError: …`).
fn typed_line(rest: &str, at_error: bool) -> Option<Typed<'_>> {
    fn typed<'a>(error_type: &'a str, message: &'a str, first: bool) -> Option<Typed<'a>> {
        let qualified = error_type.contains('.') && !error_type.starts_with("Runtime.");
        Some(Typed { error_type, message, first, qualified })
    }
    for (index, line) in rest.lines().take(3).enumerate() {
        let line = line.trim();
        if let Some((error_type, message)) = type_and_message(line) {
            return typed(error_type, message, index == 0);
        }
        // The SDK's sentence as the CLI prints an error it did not handle, alone on its line; a
        // print of a caught one (`Error: An error occurred (…)`, read as at ERROR) is not one.
        let sdk_sentence = if at_error { None } else { service_error(line) };
        if let Some((error_type, message)) = sdk_sentence.or_else(|| labelled_type(line)).or_else(|| repr(line)) {
            return typed(error_type, message, index == 0);
        }
        if is_error_type(line) && line.contains(['.', '<']) {
            return typed(line, "", index == 0);
        }
        // A qualified type may end any line of a stack.
        if let Some((message, error_type)) = line.rsplit_once(": ")
            && is_error_type(error_type.trim())
            && error_type.contains('.')
        {
            return typed(error_type.trim(), message, false);
        }
        if index == 0
            && let Some((error_type, message)) = message_then_type(line)
        {
            return typed(error_type, message, true);
        }
        // Node.js before 15 printed an unhandled rejection as a warning, with the error after it
        // (`(node:1) UnhandledPromiseRejectionWarning: ReferenceError: alert is not defined`).
        if let Some((_, after)) = line.split_once("UnhandledPromiseRejectionWarning: ")
            && let Some((error_type, message)) = type_and_message(after)
        {
            return typed(error_type, message, true);
        }
        if let Some((message, error_type)) = ruby_uncaught(line) {
            return typed(error_type, message, false);
        }
        if at_error && index == 0 {
            for word in line.split_whitespace() {
                if let Some(error_type) = word.strip_suffix(':').filter(|w| is_error_type(w)) {
                    let message = line.split_once(word).map_or("", |(_, after)| after.trim());
                    return typed(error_type, message, false);
                }
            }
        }
    }
    None
}

/// The AWS SDKs' error sentence, botocore's and the CLI's: `An error occurred (AccessDenied)
/// when calling the GetObject operation: …` names the service's error code.
fn service_error(line: &str) -> Option<(&str, &str)> {
    let after = line.strip_prefix("An error occurred (")?;
    let (code, after) = after.split_once(") when calling the ")?;
    let valid = !code.is_empty() && code.len() <= MAX_TYPE_CHARS && code.chars().all(|c| c.is_ascii_alphanumeric());
    // `… operation: message`, or `… operation (reached max retries: 4): message`.
    let tail = after.split_once(" operation")?.1;
    let message = match tail.strip_prefix(" (") {
        Some(retries) => retries.split_once("): ").map_or("", |(_, message)| message),
        None => tail.strip_prefix(": ").unwrap_or(""),
    };
    valid.then_some((code, message))
}

/// The message, then its type last (`Expecting value: line 1 column 1 (char 0): JSONDecodeError`,
/// `'accessKeyDetails': KeyError`), as Lambda's console and alarm notifications render a
/// failure: `(type, message)`. A setting (`on_error: ValueError`) is a bare name before its
/// colon; a message has words or is quoted.
fn message_then_type(line: &str) -> Option<(&str, &str)> {
    let (message, error_type) = line.rsplit_once(": ")?;
    let worded = message.contains(' ') || message.starts_with(['\'', '"']);
    (worded && is_error_type(error_type)).then_some((error_type, message))
}

/// Python's `repr` of an exception, as `print(repr(e))` or a logged tuple shows it:
/// `RuntimeError('Event loop is closed')`.
fn repr(line: &str) -> Option<(&str, &str)> {
    let (error_type, rest) = line.split_once('(')?;
    let inner = rest.strip_suffix(')')?;
    let quoted = inner.len() >= 2
        && ((inner.starts_with('\'') && inner.ends_with('\'')) || (inner.starts_with('"') && inner.ends_with('"')));
    let named = is_error_type(error_type) && !error_type.contains('.');
    (quoted && named).then(|| (error_type, &inner[1..inner.len() - 1]))
}

/// A short label before the error (`Reason: TypeError: …`, `Got an error: Error: …`, `Global
/// Lambda Error: TypeError: …`, PHP's `PHP Fatal error:  Uncaught TypeError: …`): at most four
/// words, then the error type and its message.
fn labelled_type(line: &str) -> Option<(&str, &str)> {
    let (label, after) = line.split_once(": ")?;
    let short = !label.is_empty() && label.split_whitespace().count() <= 4 && label.len() <= 40;
    let words = label.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '-');
    (short && words).then(|| type_and_message(after))?
}

/// Ruby's uncaught exception: `/var/task/app.rb:9:in 'handler': boom (RuntimeError)`.
fn ruby_uncaught(line: &str) -> Option<(&str, &str)> {
    let (_, after) = line.split_once(":in ")?;
    let (_, message) = after.split_once("': ").or_else(|| after.split_once("`: "))?;
    let open = message.rfind(" (")?;
    let error_type = message[open + 2..].strip_suffix(')')?;
    // Any class name: Ruby's are not always named …Error (`Bundler::GemNotFound`).
    let class = error_type.starts_with(|c: char| c.is_ascii_uppercase())
        && error_type.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_');
    class.then(|| (message[..open].trim(), error_type))
}

/// The failure lines of Java, .NET, Go and Rust, which no level precedes.
fn runtime_failure_line(rest: &str, first_line: &str) -> Option<ErrorSignal> {
    let failure = |error_type: Option<&str>, message: Option<&str>| {
        Some(ErrorSignal {
            kind: ErrorKind::Failure,
            report: ErrorReport {
                error_type: error_type.map(str::to_owned),
                message: message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
                frames: stack::frames(rest),
                request_id: None,
            },
        })
    };
    if let Some(after) = first_line.strip_prefix("Exception in thread ") {
        // `Exception in thread "main" java.lang.IllegalStateException: …`
        let after = after.trim_start();
        let after = match after.strip_prefix('"').and_then(|a| a.split_once('"')) {
            Some((_, tail)) => tail.trim_start(),
            None => after,
        };
        let (error_type, message) = type_and_message(after).unwrap_or((after, ""));
        return failure(Some(error_type), Some(message));
    }
    for phrase in ["Unhandled exception. ", "Unhandled Exception: "] {
        if let Some(after) = first_line.strip_prefix(phrase) {
            let (error_type, message) = type_and_message(after).unwrap_or(("", after));
            return failure(Some(error_type).filter(|t| !t.is_empty()), Some(message));
        }
    }
    if let Some(message) = first_line.strip_prefix("panic: ") {
        return failure(Some("panic"), Some(message));
    }
    if first_line.starts_with("thread '") && first_line.contains("' panicked at ") {
        let message = rest.lines().nth(1).unwrap_or("");
        return failure(Some("panic"), Some(message));
    }
    None
}

/// `TypeError: Cannot read …` → (`TypeError`, `Cannot read …`), when the first word is an
/// error type and a colon follows it.
pub(crate) fn type_and_message(line: &str) -> Option<(&str, &str)> {
    let (candidate, message) = line.split_once(':')?;
    let candidate = candidate.trim();
    // JavaScript's and PHP's word for an error nothing caught (`Uncaught TypeError: fetch
    // failed`, `PHP Fatal error:  Uncaught TypeError: …`) stands before the type.
    let candidate = candidate.strip_prefix("Uncaught ").unwrap_or(candidate);
    // `Error: x`, `com.acme.Failure: x`, `Function<NoMethodError>: x`, `[ERROR] Runtime.X: x`.
    is_error_type(candidate).then(|| (candidate, message.trim()))
}

/// An error type as runtimes print one: an identifier (dotted, `::`, `$` and `<…>` allowed)
/// whose last part names an error or an exception, or a Lambda error type.
pub(crate) fn is_error_type(word: &str) -> bool {
    if word.is_empty() || word.len() > MAX_TYPE_CHARS || word.contains(char::is_whitespace) {
        return false;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '<' | '>' | ':' | '*');
    if !word.chars().all(allowed) || !word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*') {
        return false;
    }
    let last = word.rsplit(['.', ':', '<', '*']).find(|part| !part.is_empty()).unwrap_or(word);
    let last = last.trim_end_matches('>');
    let names_an_error = ["Error", "Exception", "Exit", "Interrupt", "Fault", "Rejection", "Panic", "errorString"]
        .iter()
        .any(|suffix| last.ends_with(suffix));
    let lambda_type = ["Runtime.", "Function.", "Sandbox.", "Extension."].iter().any(|p| word.starts_with(p));
    names_an_error || lambda_type || last == "Error"
}
