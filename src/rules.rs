//! The rule catalog: rules are data (`rules/*.toml`), compiled once at init, scanned in one pass.
//!
//! A rule names a failure (id, category, severity), explains it (title, summary, cause, fix,
//! docs) and says how it is recognised: literal `anchors` for the one-pass prefilter plus an
//! optional `regex` whose named captures fill the finding's `details`, and/or a built-in
//! `detector` that the correlator in [`crate::analyze`] runs over parsed platform records
//! (memory figures, timeouts, init failures cannot be matched as plain text).
//!
//! Compilation fails loudly: an unknown field, an invalid regex, a duplicate id, an unknown
//! category, a rule without anchors or a template naming an unknown value is a [`RuleError`]
//! that names the file and the rule id. Nothing is compiled per message: all anchors of all
//! rules go into one Aho-Corasick automaton, so a message is scanned once, and only the rules
//! whose anchors hit run their regex. The automaton is daachorse's double array over the
//! anchors in ASCII lower case, run on the message in lower case (the anchors of case-sensitive
//! rules are then confirmed byte for byte). With ~260 anchors no SIMD prefilter applies;
//! replacing aho-corasick's DFA with it took the worst-case batch of `make bench` from 23.3 to
//! 22.6 ms and init from 4.7 to 2.5 ms.
//!
//! Init stays cheap with a large catalog: the built-in rules' regexes are compiled on first
//! use (a rule whose anchors never occur never pays for its regex; the test suite compiles and
//! checks every one of them), while rules from other files, such as `EXTRA_RULES_FILE`, are
//! compiled and checked completely at load, so a bad one stops init.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use daachorse::DoubleArrayAhoCorasick;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The built-in catalog, embedded at build time from every `rules/*.toml` (see build.rs):
/// `(file name, contents)`, sorted by name.
pub const BUILTIN_RULE_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// How urgent a finding is; ordered from `Low` to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Degrades the function; act soon.
    Medium,
    /// Fails invocations.
    High,
    /// Fails every invocation, or loses work.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The lowercase name used in JSON and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses the lowercase name (case-insensitively).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fixed category vocabulary of DESIGN.md: rules are many, categories are few.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Category {
    OutOfMemory,
    MemoryPressure,
    Timeout,
    InitTimeout,
    SecretAccessDenied,
    AccessDenied,
    EventualConsistency,
    Throttling,
    InvalidCredentials,
    RuntimeStartup,
    RuntimeCrash,
    ReadOnlyFilesystem,
    DiskFull,
    DatabaseConnection,
    Network,
    Configuration,
    ApplicationError,
}

impl Category {
    /// Every category, in DESIGN.md's order.
    pub const ALL: [Category; 17] = [
        Self::OutOfMemory,
        Self::MemoryPressure,
        Self::Timeout,
        Self::InitTimeout,
        Self::SecretAccessDenied,
        Self::AccessDenied,
        Self::EventualConsistency,
        Self::Throttling,
        Self::InvalidCredentials,
        Self::RuntimeStartup,
        Self::RuntimeCrash,
        Self::ReadOnlyFilesystem,
        Self::DiskFull,
        Self::DatabaseConnection,
        Self::Network,
        Self::Configuration,
        Self::ApplicationError,
    ];

    /// What the category means (DESIGN.md's vocabulary table).
    pub fn meaning(self) -> &'static str {
        match self {
            Self::OutOfMemory => "the function or process ran out of memory",
            Self::MemoryPressure => "the invocation succeeded, but used 90% or more of its memory",
            Self::Timeout => "an invocation ran past its timeout (cold-start timeouts included)",
            Self::InitTimeout => "the init phase timed out or was retried as a suppressed init",
            Self::SecretAccessDenied => {
                "access denied reading a secret: secretsmanager:GetSecretValue, or KMS decrypt of the secret's key"
            }
            Self::AccessDenied => "any other \"not authorized to perform\" / AccessDenied",
            Self::EventualConsistency => {
                "an error AWS documents as transient right after a create or a permission change"
            }
            Self::Throttling => "rate exceeded, throttled, too many requests",
            Self::InvalidCredentials => "expired or invalid tokens, keys or grants",
            Self::RuntimeStartup => {
                "the function cannot start: bad handler, missing module, missing bootstrap, wrong architecture, GLIBC mismatch, syntax error"
            }
            Self::RuntimeCrash => "the runtime process exited or was killed for a reason other than memory",
            Self::ReadOnlyFilesystem => "a write outside /tmp",
            Self::DiskFull => "no space left on device",
            Self::DatabaseConnection => "a database cannot be reached or its connection pool or slots are exhausted",
            Self::Network => "connection refused, timed out, DNS failure, TLS certificate problems",
            Self::Configuration => {
                "the environment around the code is wrong: a port already in use, a missing container image, a payload or response over a Lambda limit"
            }
            Self::ApplicationError => {
                "the application's own failure that a guide explains: an unhandled 5xx, a failed webhook signature, a foreign-key violation"
            }
        }
    }

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfMemory => "out_of_memory",
            Self::MemoryPressure => "memory_pressure",
            Self::Timeout => "timeout",
            Self::InitTimeout => "init_timeout",
            Self::SecretAccessDenied => "secret_access_denied",
            Self::AccessDenied => "access_denied",
            Self::EventualConsistency => "eventual_consistency",
            Self::Throttling => "throttling",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RuntimeStartup => "runtime_startup",
            Self::RuntimeCrash => "runtime_crash",
            Self::ReadOnlyFilesystem => "read_only_filesystem",
            Self::DiskFull => "disk_full",
            Self::DatabaseConnection => "database_connection",
            Self::Network => "network",
            Self::Configuration => "configuration",
            Self::ApplicationError => "application_error",
        }
    }

    /// Words for people: `out_of_memory` becomes "out of memory".
    pub fn words(self) -> String {
        self.as_str().replace('_', " ")
    }
}

/// Built-in detectors: conditions over parsed platform records, run by the correlator.
/// A rule with `detector = "…"` is what that detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    /// Runtime.OutOfMemory, or Max Memory Used at Memory Size on a failed invocation.
    OutOfMemory,
    /// A successful invocation at 90% or more of its memory.
    MemoryPressure,
    /// A timed-out invocation on a warm environment.
    Timeout,
    /// A timed-out invocation that was a cold start.
    ColdStartTimeout,
    /// INIT_REPORT / initReport with status timeout.
    InitTimeout,
    /// INIT_REPORT / initReport with status error that no more specific rule explains.
    InitFailure,
    /// RESTORE_REPORT with status error or timeout (SnapStart).
    RestoreFailure,
    /// The runtime exited or was killed for a reason other than memory.
    RuntimeExit,
    /// An access denial followed by a successful invocation in the same batch: propagation.
    DenialThenSuccess,
}

impl Detector {
    /// The detail names this detector fills, for template validation.
    pub fn detail_names(self) -> &'static [&'static str] {
        const MEMORY: &[&str] = &[
            "memory_size_mb",
            "max_memory_used_mb",
            "memory_used_percent",
            "suggested_memory_mb",
            "duration_ms",
            "error_type",
            "status",
            "reported_as",
            "exit_reason",
        ];
        match self {
            Self::OutOfMemory | Self::MemoryPressure => MEMORY,
            Self::Timeout | Self::ColdStartTimeout => &[
                "timeout_seconds",
                "duration_ms",
                "cold_start",
                "init_duration_ms",
                "memory_size_mb",
                "max_memory_used_mb",
            ],
            Self::InitTimeout | Self::InitFailure => {
                &["phase", "init_duration_ms", "error_type", "status", "init_outcome"]
            }
            Self::RestoreFailure => &["restore_duration_ms", "error_type", "status"],
            Self::RuntimeExit => &["exit_reason", "error_type", "memory_size_mb", "max_memory_used_mb"],
            Self::DenialThenSuccess => &[
                "principal",
                "role",
                "action",
                "resource",
                "denied_rule_id",
                "recovered_request_id",
                "recovered_after_seconds",
            ],
        }
    }
}

/// Built-in parsers that add structured details to a rule's hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parser {
    /// The IAM "User: … is not authorized to perform: …" grammar (LOG-FORMATS.md 6.1).
    AccessDenied,
}

impl Parser {
    /// The detail names this parser can fill, for template validation.
    pub fn detail_names(self) -> &'static [&'static str] {
        match self {
            Self::AccessDenied => crate::access::DETAIL_NAMES,
        }
    }
}

/// Names every template may use, filled from the batch and the aggregate.
pub const CONTEXT_NAMES: &[&str] = &["function", "log_group", "account", "region", "count"];

/// A rule as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable kebab-case id, e.g. `lambda-out-of-memory`.
    pub id: String,
    /// One of DESIGN.md's categories.
    pub category: Category,
    /// How urgent a finding of this rule is.
    pub severity: Severity,
    /// A short title.
    pub title: String,
    /// One sentence with the numbers: a template (see [`Template`]).
    pub summary: String,
    /// Why this happens, in two or three sentences.
    pub cause: String,
    /// The fix steps, most likely first; each a template, dropped when its values are missing.
    pub fix: Vec<String>,
    /// Documentation links.
    #[serde(default)]
    pub docs: Vec<String>,
    /// Where the recognised formats come from (LOG-FORMATS.md sections, guides, docs).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Detail names whose values separate findings of this rule within a batch.
    #[serde(default)]
    pub key: Vec<String>,
    /// The built-in detector that reports this rule, if any.
    #[serde(default)]
    pub detector: Option<Detector>,
    /// A built-in parser run on matching messages, if any.
    #[serde(default)]
    pub parser: Option<Parser>,
    /// The text match.
    #[serde(default, rename = "match")]
    pub matcher: Option<MatchSpec>,
}

/// How a rule matches message text.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Literal strings, any of which selects the rule for its regex (or matches, without one).
    pub anchors: Vec<String>,
    /// Confirms the match; its named captures become details. A group named `name__2`
    /// (`__3`, …) fills the same detail as `name`, for formats that put a value in different
    /// places of an alternation.
    #[serde(default)]
    pub regex: Option<String>,
    /// Match anchors and regex ignoring ASCII case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Literal strings that veto the match when the message contains any of them (another
    /// rule owns those messages, or they mark a known near miss). Matched with the rule's case.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Why a rule could not be loaded. Names the file and, where known, the rule id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{problem}", rule.as_ref().map(|id| format!("rule `{id}`: ")).unwrap_or_default())]
pub struct RuleError {
    /// The file the rule came from.
    pub file: String,
    /// The rule id, when the rule got far enough to have one.
    pub rule: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Value(String),
    Optional(Vec<Segment>),
}

/// A text with `{name}` values and `[optional sections]` that vanish when a value inside is
/// missing. `{{`, `}}`, `[[` and `]]` stand for literal braces and brackets.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// A message naming the problem: an unclosed `{` or `[`, or a stray `]` or `}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut stack: Vec<Vec<Segment>> = vec![Vec::new()];
        let mut chars = text.chars().peekable();
        let mut literal = String::new();
        fn flush(literal: &mut String, stack: &mut [Vec<Segment>]) {
            if !literal.is_empty()
                && let Some(top) = stack.last_mut()
            {
                top.push(Segment::Text(std::mem::take(literal)));
            }
        }
        while let Some(c) = chars.next() {
            match c {
                '{' | '}' | '[' | ']' if chars.peek() == Some(&c) => {
                    chars.next();
                    literal.push(c);
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(n) if n.is_ascii_alphanumeric() || n == '_' => name.push(n),
                            _ => return Err(format!("unclosed or invalid {{value}} in template `{text}`")),
                        }
                    }
                    flush(&mut literal, &mut stack);
                    if let Some(top) = stack.last_mut() {
                        top.push(Segment::Value(name));
                    }
                }
                '[' => {
                    flush(&mut literal, &mut stack);
                    stack.push(Vec::new());
                }
                ']' => {
                    flush(&mut literal, &mut stack);
                    if stack.len() < 2 {
                        return Err(format!("stray `]` in template `{text}` (write `]]` for a bracket)"));
                    }
                    let inner = stack.pop().unwrap_or_default();
                    if let Some(top) = stack.last_mut() {
                        top.push(Segment::Optional(inner));
                    }
                }
                '}' => return Err(format!("stray `}}` in template `{text}` (write `}}}}` for a brace)")),
                other => literal.push(other),
            }
        }
        flush(&mut literal, &mut stack);
        if stack.len() != 1 {
            return Err(format!("unclosed `[` in template `{text}`"));
        }
        Ok(Self { segments: stack.pop().unwrap_or_default() })
    }

    /// The value names the template uses.
    pub fn names(&self) -> Vec<&str> {
        fn walk<'a>(segments: &'a [Segment], out: &mut Vec<&'a str>) {
            for segment in segments {
                match segment {
                    Segment::Text(_) => {}
                    Segment::Value(name) => out.push(name),
                    Segment::Optional(inner) => walk(inner, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.segments, &mut out);
        out
    }

    /// Renders the template; `None` when a value outside every optional section is missing.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        fn walk(segments: &[Segment], lookup: &dyn Fn(&str) -> Option<String>, out: &mut String) -> bool {
            for segment in segments {
                match segment {
                    Segment::Text(text) => out.push_str(text),
                    Segment::Value(name) => match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => return false,
                    },
                    Segment::Optional(inner) => {
                        let mut section = String::new();
                        if walk(inner, lookup, &mut section) {
                            out.push_str(&section);
                        }
                    }
                }
            }
            true
        }
        let mut out = String::new();
        walk(&self.segments, lookup, &mut out).then_some(out)
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written.
    pub spec: RuleSpec,
    /// The compiled summary.
    pub summary: Template,
    /// The compiled fix steps.
    pub fix: Vec<Template>,
    regex: Option<RuleRegex>,
    exclude: Option<AhoCorasick>,
}

/// A rule's regex with the details its named groups fill.
#[derive(Debug, Clone)]
struct CompiledRegex {
    regex: Regex,
    /// `(group name, detail name)` for every named group.
    captures: Vec<(String, String)>,
}

impl CompiledRegex {
    fn new(pattern: &str, case_insensitive: bool) -> Result<Self, regex::Error> {
        let regex = regex::RegexBuilder::new(pattern).case_insensitive(case_insensitive).size_limit(1 << 20).build()?;
        let captures =
            regex.capture_names().flatten().map(|group| (group.to_owned(), detail_name(group).to_owned())).collect();
        Ok(Self { regex, captures })
    }
}

/// A regex compiled at load, or on first use for the built-in catalog (see the module docs).
#[derive(Debug, Clone)]
struct RuleRegex {
    pattern: String,
    case_insensitive: bool,
    compiled: OnceLock<Option<CompiledRegex>>,
}

impl RuleRegex {
    /// The compiled regex; `None` only for a built-in pattern that does not compile, which the
    /// tests rule out (such a rule then never matches).
    fn get(&self) -> Option<&CompiledRegex> {
        self.compiled.get_or_init(|| CompiledRegex::new(&self.pattern, self.case_insensitive).ok()).as_ref()
    }
}

impl Rule {
    /// The rule id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }
}

/// One rule matching one message: the rule and the regex's named captures.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the rule in [`Catalog::rules`].
    pub rule: usize,
    /// `(capture name, captured text)` for every named capture that took part.
    pub captures: Vec<(String, String)>,
}

/// The compiled catalog: the rules plus the automaton that scans for all of them at once.
#[derive(Debug, Clone)]
pub struct Catalog {
    rules: Vec<Rule>,
    anchors: Option<Anchors>,
}

/// Every anchor of every rule, in one automaton.
#[derive(Clone)]
struct Anchors {
    /// The distinct anchors in ASCII lower case; a match's value (the anchor's position)
    /// indexes `owners`.
    automaton: DoubleArrayAhoCorasick<u32>,
    /// Per distinct anchor: the rules that have it, each with the exact text the anchor must
    /// have in the message when its rule is case-sensitive.
    owners: Vec<Vec<(usize, Option<String>)>>,
    /// Per distinct anchor: what kind of text it is ([`PLATFORM_PHRASE`], [`WORDED`]).
    kinds: Vec<u8>,
}

/// An anchor that is one of the platform's phrases ([`PLATFORM_PHRASES`]).
const PLATFORM_PHRASE: u8 = 1;
/// An anchor with a letter in it. Numeric anchors (`429`, `:5432`) also occur in ids and
/// figures of ordinary JSON lines, so they alone are no reason to unfold a message.
const WORDED: u8 = 2;

/// Phrases of Lambda's platform lines that can appear after a prefix (see
/// [`crate::platform`]). They ride in the anchor pass so that the platform parser searches a
/// message for them only when one occurs, at no extra pass over every message.
pub const PLATFORM_PHRASES: &[&str] = crate::platform::PHRASE_TEXTS;

impl fmt::Debug for Anchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anchors").field("distinct", &self.owners.len()).finish_non_exhaustive()
    }
}

/// Reusable buffers for [`Catalog::scan`], so scanning a batch allocates once, not per message.
#[derive(Debug, Default)]
pub struct ScanScratch {
    lowered: Vec<u8>,
    candidates: Vec<usize>,
    /// The kinds of the anchors of the last message, or-ed.
    kinds: u8,
}

impl ScanScratch {
    /// Whether the last message [`Catalog::scan`] read holds a platform phrase
    /// ([`PLATFORM_PHRASES`], in any case).
    pub fn platform_phrase(&self) -> bool {
        self.kinds & PLATFORM_PHRASE != 0
    }

    /// Whether the last message [`Catalog::scan`] read holds an anchor with a letter in it
    /// (a rule's or a platform phrase).
    pub fn worded_anchor(&self) -> bool {
        self.kinds & WORDED != 0
    }
}

/// The `[[rule]]` list of one rule file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileTable {
    #[serde(default)]
    rule: Vec<toml::Value>,
}

/// Parses one TOML rule file into specs.
///
/// # Errors
///
/// A [`RuleError`] naming the file and the rule (by id, or by position when it has no id).
pub fn parse_rule_file(file: &str, text: &str) -> Result<Vec<RuleSpec>, RuleError> {
    let error = |rule: Option<String>, problem: String| RuleError { file: file.to_owned(), rule, problem };
    let table: RuleFileTable = toml::from_str(text).map_err(|e| error(None, e.to_string().trim().to_owned()))?;
    table
        .rule
        .into_iter()
        .enumerate()
        .map(|(position, value)| {
            let id = value
                .get("id")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{} (no id)", position + 1));
            RuleSpec::deserialize(value).map_err(|e| error(Some(id), e.to_string().trim().to_owned()))
        })
        .collect()
}

/// The detail a named group fills: its name without a `__N` suffix. The regex crate forbids
/// duplicate group names, so `(?P<port>…)|(?P<port__2>…)` captures the same detail `port` in
/// two branches of an alternation; the first group that took part wins.
fn detail_name(group: &str) -> &str {
    match group.rsplit_once("__") {
        Some((base, n)) if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => group,
    }
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl Catalog {
    /// Compiles rule specs, each paired with the file it came from, checking everything now:
    /// every regex is compiled and every template name resolved (as for `EXTRA_RULES_FILE`).
    ///
    /// # Errors
    ///
    /// The first [`RuleError`] found: a duplicate or malformed id, a rule with neither a match
    /// nor a detector, a match without anchors, an invalid regex, or a bad template.
    pub fn compile(specs: Vec<(String, RuleSpec)>) -> Result<Self, RuleError> {
        Self::build(specs.into_iter().map(|(file, spec)| (file, spec, false)).collect())
    }

    /// Compiles `(file, spec, built_in)`: built-in rules compile their regex on first use, and
    /// the names their templates use are checked by the test suite instead of here.
    fn build(specs: Vec<(String, RuleSpec, bool)>) -> Result<Self, RuleError> {
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(specs.len());
        // The distinct anchors in lower case, their positions, and who owns each.
        let mut distinct: Vec<String> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut owners: Vec<Vec<(usize, Option<String>)>> = Vec::new();
        for (file, spec, built_in) in specs {
            let error = |problem: String| RuleError { file: file.clone(), rule: Some(spec.id.clone()), problem };
            if !is_kebab_case(&spec.id) {
                return Err(error("the id must be kebab-case (a-z, 0-9 and single dashes)".into()));
            }
            if !seen.insert(spec.id.clone()) {
                return Err(error("duplicate rule id".into()));
            }
            if spec.matcher.is_none() && spec.detector.is_none() {
                return Err(error("a rule needs a [rule.match] with anchors, or a detector".into()));
            }
            if spec.fix.is_empty() {
                return Err(error("a rule needs at least one fix step".into()));
            }
            let mut regex = None;
            let mut exclude = None;
            if let Some(matcher) = &spec.matcher {
                if matcher.anchors.is_empty() || matcher.anchors.iter().any(|a| a.trim().is_empty()) {
                    return Err(error("[rule.match] needs at least one non-empty anchor".into()));
                }
                if let Some(pattern) = &matcher.regex {
                    let compiled = OnceLock::new();
                    if !built_in {
                        let checked = CompiledRegex::new(pattern, matcher.case_insensitive)
                            .map_err(|e| error(format!("invalid regex: {e}")))?;
                        let _ = compiled.set(Some(checked));
                    }
                    regex = Some(RuleRegex {
                        pattern: pattern.clone(),
                        case_insensitive: matcher.case_insensitive,
                        compiled,
                    });
                }
                if !matcher.exclude.is_empty() {
                    if matcher.exclude.iter().any(|e| e.trim().is_empty()) {
                        return Err(error("[rule.match] exclude entries must not be empty".into()));
                    }
                    exclude = Some(
                        AhoCorasick::builder()
                            .ascii_case_insensitive(matcher.case_insensitive)
                            .build(&matcher.exclude)
                            .map_err(|e| error(format!("exclude does not compile: {e}")))?,
                    );
                }
                let index = rules.len();
                for anchor in &matcher.anchors {
                    let lowered = anchor.to_ascii_lowercase();
                    let slot = *slot_of.entry(lowered.clone()).or_insert_with(|| {
                        distinct.push(lowered);
                        owners.push(Vec::new());
                        distinct.len() - 1
                    });
                    owners[slot].push((index, (!matcher.case_insensitive).then(|| anchor.clone())));
                }
            }
            let mut known: BTreeSet<&str> = CONTEXT_NAMES.iter().copied().collect();
            let compiled = regex.as_ref().and_then(|r| r.compiled.get()).and_then(Option::as_ref);
            known.extend(compiled.iter().flat_map(|c| c.captures.iter().map(|(_, detail)| detail.as_str())));
            if let Some(detector) = spec.detector {
                known.extend(detector.detail_names());
            }
            if let Some(parser) = spec.parser {
                known.extend(parser.detail_names());
            }
            let summary = Template::parse(&spec.summary).map_err(|e| error(format!("summary: {e}")))?;
            let fix = spec
                .fix
                .iter()
                .map(|step| Template::parse(step).map_err(|e| error(format!("fix: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let names_unchecked = built_in && regex.is_some();
            for name in summary
                .names()
                .into_iter()
                .chain(fix.iter().flat_map(Template::names))
                .chain(spec.key.iter().map(String::as_str))
            {
                if !names_unchecked && !known.contains(name) {
                    return Err(error(format!(
                        "`{name}` is not a value this rule has (known: {})",
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            rules.push(Rule { spec, summary, fix, regex, exclude });
        }
        for phrase in PLATFORM_PHRASES {
            let lowered = phrase.to_ascii_lowercase();
            if !slot_of.contains_key(&lowered) {
                slot_of.insert(lowered.clone(), distinct.len());
                distinct.push(lowered);
                owners.push(Vec::new());
            }
        }
        let kinds = distinct
            .iter()
            .map(|anchor| {
                let platform = PLATFORM_PHRASES.iter().any(|p| p.eq_ignore_ascii_case(anchor));
                let worded = anchor.bytes().any(|b| b.is_ascii_alphabetic());
                (u8::from(platform) * PLATFORM_PHRASE) | (u8::from(worded) * WORDED)
            })
            .collect();
        let anchors = if distinct.is_empty() {
            None
        } else {
            // A match's value is the pattern's position in `distinct`, which indexes `owners`.
            let automaton = DoubleArrayAhoCorasick::new(&distinct).map_err(|e| RuleError {
                file: "(catalog)".into(),
                rule: None,
                problem: format!("anchors do not compile: {e}"),
            })?;
            Some(Anchors { automaton, owners, kinds })
        };
        Ok(Self { rules, anchors })
    }

    /// Loads the built-in catalog plus optional extra files, without the disabled rule ids.
    /// Extra files are checked completely, as by [`Catalog::compile`]; built-in regexes are
    /// compiled on first use (the test suite checks them fully).
    ///
    /// # Errors
    ///
    /// A [`RuleError`] for the first bad file or rule, or for a disabled id that no rule has.
    pub fn load(extra: &[(String, String)], disabled: &[String]) -> Result<Self, RuleError> {
        let mut specs = Vec::new();
        let files = BUILTIN_RULE_FILES
            .iter()
            .map(|(f, t)| ((*f).to_owned(), (*t).to_owned(), true))
            .chain(extra.iter().map(|(f, t)| (f.clone(), t.clone(), false)));
        for (file, text, built_in) in files {
            for spec in parse_rule_file(&file, &text)? {
                specs.push((file.clone(), spec, built_in));
            }
        }
        for id in disabled {
            if !specs.iter().any(|(_, spec, _)| &spec.id == id) {
                return Err(RuleError {
                    file: "DISABLED_RULES".into(),
                    rule: Some(id.clone()),
                    problem: "no rule has this id (see `troubleshooter rules`)".into(),
                });
            }
        }
        specs.retain(|(_, spec, _)| !disabled.contains(&spec.id));
        Self::build(specs)
    }

    /// The compiled rules, in catalog order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The index of the rule reported by `detector`, unless it was disabled.
    pub fn detector_rule(&self, detector: Detector) -> Option<usize> {
        self.rules.iter().position(|rule| rule.spec.detector == Some(detector))
    }

    /// Scans one message against every rule in one pass and appends the hits to `hits`.
    /// Candidate rules come from the anchor automaton; only they run their regex. Returns
    /// whether any anchor occurred, confirmed by its regex or not.
    pub fn scan(&self, message: &str, scratch: &mut ScanScratch, hits: &mut Vec<Hit>) -> bool {
        let ScanScratch { lowered, candidates, kinds } = scratch;
        candidates.clear();
        *kinds = 0;
        if let Some(anchors) = &self.anchors {
            lowered.clear();
            lowered.extend_from_slice(message.as_bytes());
            lowered.make_ascii_lowercase();
            let bytes = message.as_bytes();
            for m in anchors.automaton.find_overlapping_iter(&lowered[..]) {
                let found = &bytes[m.start()..m.end()];
                *kinds |= anchors.kinds.get(m.value() as usize).copied().unwrap_or(0);
                for (rule, exact) in anchors.owners.get(m.value() as usize).map_or(&[][..], Vec::as_slice) {
                    if exact.as_ref().is_none_or(|anchor| found == anchor.as_bytes()) {
                        candidates.push(*rule);
                    }
                }
            }
        }
        if candidates.is_empty() {
            return false;
        }
        candidates.sort_unstable();
        candidates.dedup();
        for &index in &*candidates {
            let rule = &self.rules[index];
            if rule.exclude.as_ref().is_some_and(|veto| veto.is_match(message)) {
                continue;
            }
            match rule.regex.as_ref().map(RuleRegex::get) {
                None => hits.push(Hit { rule: index, captures: Vec::new() }),
                Some(None) => {}
                Some(Some(compiled)) => {
                    if let Some(caps) = compiled.regex.captures(message) {
                        let mut captures: Vec<(String, String)> = Vec::new();
                        for (group, detail) in &compiled.captures {
                            if let Some(m) = caps.name(group)
                                && !captures.iter().any(|(name, _)| name == detail)
                            {
                                captures.push((detail.clone(), m.as_str().trim().to_owned()));
                            }
                        }
                        hits.push(Hit { rule: index, captures });
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(toml: &str) -> Result<Catalog, RuleError> {
        let specs = parse_rule_file("test.toml", toml)?;
        Catalog::compile(specs.into_iter().map(|s| ("test.toml".to_owned(), s)).collect())
    }

    const GOOD: &str = r#"
[[rule]]
id = "demo-rule"
category = "network"
severity = "high"
title = "Demo"
summary = "{function} could not reach {host}[ on port {port}]"
cause = "Because."
fix = ["Check {host}.", "[Open port {port}.]"]
[rule.match]
anchors = ["ECONNREFUSED"]
regex = 'ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?'
"#;

    #[test]
    fn the_builtin_catalog_compiles() {
        let catalog = Catalog::load(&[], &[]).unwrap();
        assert!(catalog.rules().len() >= 10);
        assert!(catalog.detector_rule(Detector::OutOfMemory).is_some());
    }

    /// `load` compiles the built-in regexes on first use: this compiles and checks every one
    /// of them (regex, captures, template names) as `EXTRA_RULES_FILE` rules are at init.
    #[test]
    fn every_builtin_rule_passes_the_full_load_time_checks() {
        let mut specs = Vec::new();
        for (file, text) in BUILTIN_RULE_FILES {
            specs.extend(parse_rule_file(file, text).unwrap().into_iter().map(|s| ((*file).to_owned(), s)));
        }
        let catalog = Catalog::compile(specs).unwrap_or_else(|e| panic!("{e}"));
        for rule in catalog.rules() {
            if let Some(regex) = &rule.regex {
                assert!(regex.compiled.get().is_some_and(Option::is_some), "{} was not compiled", rule.id());
            }
        }
        let lazy = Catalog::load(&[], &[]).unwrap();
        assert!(lazy.rules().iter().filter_map(|r| r.regex.as_ref()).all(|r| r.compiled.get().is_none()));
    }

    #[test]
    fn one_pass_keeps_case_sensitive_anchors_exact() {
        let rule = |id: &str, anchor: &str, case_insensitive: bool| {
            format!(
                "[[rule]]\nid = \"{id}\"\ncategory = \"network\"\nseverity = \"low\"\ntitle = \"t\"\nsummary = \"s\"\ncause = \"c\"\nfix = [\"f\"]\n[rule.match]\nanchors = [\"{anchor}\"]\ncase_insensitive = {case_insensitive}\n"
            )
        };
        let catalog =
            one(&format!("{}{}", rule("exact", "ECONNREFUSED", false), rule("any-case", "econnrefused", true)))
                .unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        let ids = |hits: &[Hit]| hits.iter().map(|h| catalog.rules()[h.rule].id().to_owned()).collect::<Vec<_>>();
        catalog.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(ids(&hits), ["exact", "any-case"]);
        hits.clear();
        catalog.scan("connect Econnrefused 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(ids(&hits), ["any-case"], "a case-sensitive anchor must not match another case");
    }

    #[test]
    fn scan_runs_regex_only_after_an_anchor_and_keeps_captures() {
        let catalog = one(GOOD).unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        catalog.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].captures, vec![("host".into(), "10.0.0.5".into()), ("port".into(), "5432".into())]);
        hits.clear();
        catalog.scan("all good", &mut scratch, &mut hits);
        catalog.scan("ECONNREFUSED but no address", &mut scratch, &mut hits);
        assert!(hits.is_empty());
        let vetoed =
            one(&GOOD
                .replace("anchors = [\"ECONNREFUSED\"]", "anchors = [\"ECONNREFUSED\"]\nexclude = [\"healthcheck\"]"))
            .unwrap();
        vetoed.scan("healthcheck: connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert!(hits.is_empty());
        vetoed.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn numbered_groups_fill_one_detail() {
        let toml = GOOD.replace(
            r"regex = 'ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?'",
            r"regex = 'ECONNREFUSED (?P<host>[\d.]+):(?P<port>\d+)|port (?P<port__2>\d+) on (?P<host__2>[\d.]+) ECONNREFUSED'",
        );
        let catalog = one(&toml).unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        catalog.scan("port 5432 on 10.0.0.5 ECONNREFUSED", &mut scratch, &mut hits);
        let mut captures = hits[0].captures.clone();
        captures.sort();
        assert_eq!(captures, vec![("host".into(), "10.0.0.5".into()), ("port".into(), "5432".into())]);
        assert_eq!(detail_name("port__12"), "port");
        assert_eq!(detail_name("a__b"), "a__b");
        assert_eq!(detail_name("__2"), "__2");
    }

    #[test]
    fn templates_drop_optional_sections_and_keep_escapes() {
        let t = Template::parse("{a} used[ {b} of] {{x}} [[y]]").unwrap();
        let only_a = |n: &str| (n == "a").then(|| "A".to_owned());
        assert_eq!(t.render(&only_a).as_deref(), Some("A used {x} [y]"));
        let none = |_: &str| None;
        assert_eq!(t.render(&none), None);
        assert!(Template::parse("[unclosed").is_err());
        assert!(Template::parse("stray ]").is_err());
        assert!(Template::parse("{unclosed").is_err());
    }

    #[test]
    fn bad_rules_fail_with_file_and_id() {
        let cases = [
            (GOOD.replace("severity = \"high\"", "severity = \"high\"\nsevrity = 1"), "unknown field"),
            (GOOD.replace("network", "networking"), "unknown variant"),
            (GOOD.replace(r"(?P<host>[\d.]+)", "(?P<host>[\\d.+"), "invalid regex"),
            (GOOD.replace("anchors = [\"ECONNREFUSED\"]", "anchors = []"), "anchor"),
            (GOOD.replace("demo-rule", "Demo_Rule"), "kebab-case"),
            (GOOD.replace("Check {host}.", "Check {hots}."), "`hots`"),
            (format!("{GOOD}\n{GOOD}"), "duplicate"),
        ];
        for (toml, expected) in cases {
            let err = one(&toml).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("test.toml: rule `"), "{text}");
            assert!(text.contains(expected), "{text} should mention {expected}");
        }
        let err = one("[[rule]]\nid = 3").unwrap_err();
        assert!(err.to_string().contains("test.toml"), "{err}");
        let err = one("this is not toml").unwrap_err();
        assert_eq!(err.rule, None);
    }

    #[test]
    fn disabling_an_unknown_rule_is_an_error_and_a_known_one_removes_it() {
        let err = Catalog::load(&[], &["no-such-rule".into()]).unwrap_err();
        assert_eq!(err.file, "DISABLED_RULES");
        let all = Catalog::load(&[], &[]).unwrap();
        let id = all.rules()[0].id().to_owned();
        let fewer = Catalog::load(&[], std::slice::from_ref(&id)).unwrap();
        assert_eq!(fewer.rules().len() + 1, all.rules().len());
        assert!(fewer.rules().iter().all(|r| r.id() != id));
    }
}
