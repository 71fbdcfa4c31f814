//! A rule as written: the TOML shape of `rules/*.toml` and of `EXTRA_RULES_FILE`, the
//! built-in detectors and parsers a rule can name, and the error that names a bad file and
//! rule.

use serde::{Deserialize, Serialize};

use crate::model::{Category, Severity, details};

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
    /// A failed invocation (its runtime's error line, an error document, or a REPORT with
    /// `Status: error`) that no other rule explains, grouped by fingerprint.
    UnhandledError,
    /// An exception logged at ERROR or FATAL in an invocation that did not fail, that no
    /// other rule explains (`LOGGED_ERRORS=off` switches it off).
    LoggedError,
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
            Self::UnhandledError | Self::LoggedError => &[
                "error_type",
                "error_message",
                "error_title",
                "top_frame",
                "fingerprint",
                "runtime_error_type",
                "reported_as",
            ],
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
    /// The IAM "User: … is not authorized to perform: …" grammar
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html>).
    AccessDenied,
}

impl Parser {
    /// The detail names this parser can fill, for template validation.
    pub fn detail_names(self) -> &'static [&'static str] {
        match self {
            Self::AccessDenied => crate::model::details::ACCESS_DENIED,
        }
    }
}

/// Names every template may use, filled from the batch and the aggregate (`partition` is the
/// region's, for ARNs: `arn:{partition}:kms:{region}:{account}:key/…`).
pub const CONTEXT_NAMES: &[&str] = &["function", "log_group", "account", "region", "partition", "count"];

/// A rule as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable kebab-case id, e.g. `lambda-out-of-memory`.
    pub id: String,
    /// One of the fixed categories.
    pub category: Category,
    /// How urgent a finding of this rule is.
    pub severity: Severity,
    /// A short title.
    pub title: String,
    /// One sentence with the numbers: a template (see [`Template`](super::Template)).
    pub summary: String,
    /// Why this happens, in two or three sentences.
    pub cause: String,
    /// The fix steps, most likely first; each a template, dropped when its values are missing.
    pub fix: Vec<String>,
    /// Documentation links.
    #[serde(default)]
    pub docs: Vec<String>,
    /// Where the recognised formats come from (AWS documentation, public issues and fixtures,
    /// runtimes' source, users' guides).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Detail names whose values need a different fix (another secret, another IAM action):
    /// each value gets its own finding. Everything else about one rule and one function is one
    /// problem, one finding.
    #[serde(default)]
    pub key: Vec<String>,
    /// Detail names whose values only vary within one problem (addresses, ports, ids, table
    /// names for the same action): listed inside the finding (`details.values`: the first few
    /// and a total), never a reason to split it.
    #[serde(default)]
    pub values: Vec<String>,
    /// The built-in detector that reports this rule, if any.
    #[serde(default)]
    pub detector: Option<Detector>,
    /// A built-in parser run on matching messages, if any.
    #[serde(default)]
    pub parser: Option<Parser>,
    /// The text match.
    #[serde(default, rename = "match")]
    pub matcher: Option<MatchSpec>,
    /// A class rule: the vocabulary of a category rather than one error's words. It speaks only
    /// for a message that no other rule matched, that is no platform record, and that states no
    /// level below ERROR; of several class rules on one message the first in the catalog wins;
    /// and a failure another observation already explains (its line, or its invocation) is
    /// that observation's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// The rule names how a failure reached a caller or showed, not its cause (an HTTP 5xx, a
    /// connection that timed out): when a class rule of another category recognises a cause in
    /// the same message (a 500 whose body says `Missing required environment variables`, a
    /// database driver's error around the timeout), the class rule's finding takes this rule's
    /// place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yields_to_classes: bool,
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
pub(super) fn detail_name(group: &str) -> &str {
    match group.rsplit_once("__") {
        Some((base, n)) if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => group,
    }
}

/// Why `spec` may not be loaded because it names a detail that later stages write
/// ([`details::RESERVED`]), or, for a rule of one's own (`custom`), one that marks an
/// unhandled error ([`details::ERROR_FIELDS`]) that its detector does not fill; `None` when it
/// names none. `groups` are the detail names its regex's named groups fill.
pub(super) fn reserved_name<'a>(
    spec: &'a RuleSpec,
    groups: impl IntoIterator<Item = &'a str>,
    custom: bool,
) -> Option<String> {
    let named = groups
        .into_iter()
        .map(|name| ("the regex group", name))
        .chain(spec.key.iter().map(|name| ("`key`", name.as_str())))
        .chain(spec.values.iter().map(|name| ("`values`", name.as_str())));
    let filled_by_detector = |name: &str| spec.detector.is_some_and(|d| d.detail_names().contains(&name));
    for (place, name) in named {
        if details::RESERVED.contains(&name) {
            return Some(format!(
                "{place} `{name}` is a reserved detail name: the troubleshooter writes it itself after detection, so it would overwrite what the rule found (reserved: {}); choose another name",
                details::RESERVED.join(", ")
            ));
        }
        if custom && details::ERROR_FIELDS.contains(&name) && !filled_by_detector(name) {
            return Some(format!(
                "{place} `{name}` is a reserved detail name: {} mark an unhandled error's finding, which only the built-in error detectors fill; choose another name",
                details::ERROR_FIELDS.join(", ")
            ));
        }
    }
    None
}

pub(super) fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}
