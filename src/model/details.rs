//! Detail keys more than one stage reads or writes: delivery writes them, every rendering
//! says them in words. A rule may not fill them itself ([`RESERVED`], [`ERROR_FIELDS`]): the
//! catalog refuses one that does at load.

/// Detail of a grouped finding: for each detail that varied within the one problem (the rule's
/// `values`), `{"total": N, "first": [the first few values]}`.
pub const VALUES: &str = "values";

/// Detail of a finding that merges the keys of a rule past its cap per batch
/// (`MAX_KEYS_PER_RULE`): how many distinct keys it holds.
pub const MERGED_KEYS: &str = "merged_keys";

/// Detail of an enriched finding: the last application lines before the failure, fetched from
/// CloudWatch Logs, each `{"timestamp": …, "message": …}`, redacted ("Before it failed").
pub const CONTEXT: &str = "context";
/// Detail that says what enrichment did: how many lines it fetched, or why it fetched none.
pub const ENRICHMENT: &str = "enrichment";

/// Detail set on a published finding when earlier repeats were held back: how many findings.
pub const SUPPRESSED_FINDINGS: &str = "suppressed_findings";
/// Detail set beside [`SUPPRESSED_FINDINGS`]: how many occurrences those findings counted.
pub const SUPPRESSED_OCCURRENCES: &str = "suppressed_occurrences";
/// Detail set beside [`SUPPRESSED_FINDINGS`]: the suppression window, in seconds.
pub const SUPPRESS_WINDOW_SECONDS: &str = "suppress_window_seconds";

/// Details that stages after detection write: a rule's regex group, `key` or `values` of the
/// same name would be overwritten by them (or taken for theirs), so the catalog refuses a rule
/// that names one, built-in or not.
pub const RESERVED: &[&str] =
    &[CONTEXT, ENRICHMENT, VALUES, MERGED_KEYS, SUPPRESSED_FINDINGS, SUPPRESSED_OCCURRENCES, SUPPRESS_WINDOW_SECONDS];

/// The details that make a finding an unhandled error's: with a `fingerprint`, aggregation
/// lifts them out of `details` into the finding's own fields, and every rendering reads the
/// finding as that error. Only the rules whose detector fills them may name them; a rule of
/// one's own (`EXTRA_RULES_FILE`) that does is refused at load. (The built-in
/// `lambda-response-too-large` captures `error_type`, never a `fingerprint`.)
pub const ERROR_FIELDS: &[&str] = &["fingerprint", "error_title", "error_type"];

/// The details the IAM denial parser fills ([`crate::detect::access`]); rule templates may
/// name them (a rule with `parser = "access-denied"`).
pub const ACCESS_DENIED: &[&str] = &[
    "principal",
    "role",
    "role_arn",
    "principal_account",
    "action",
    "resource",
    "deny",
    "policy_type",
    "policy_arn",
    "iam_statement",
    "iam_command",
    "policy_fix",
    "denied_by",
];

/// The plural a person reads for a detail that varied: `hosts`, `resources`, `URLs`.
pub fn plural(name: &str) -> String {
    match name {
        "status" => "statuses".to_owned(),
        "url" => "URLs".to_owned(),
        "container_id" => "containers".to_owned(),
        name => format!("{}s", name.replace('_', " ")),
    }
}
