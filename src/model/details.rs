//! A finding's details: what the rule and its detector read from the lines ([`Details::found`],
//! a map of names a rule chooses), and, typed, what later stages add to it: the values that
//! varied (aggregation), the lines before the failure (enrichment), what flood control held
//! back (delivery). In the finding JSON they are all members of one `details` object, as
//! schema v1 has them; a rule may not fill a name a stage writes ([`RESERVED`],
//! [`ERROR_FIELDS`]): the catalog refuses one that does at load.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use crate::model::finding::Evidence;

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

/// A detail that varied within one problem: how many distinct values, and the first few
/// (redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Varied {
    /// How many distinct values there were.
    pub total: u64,
    /// The first of them, in order of appearance.
    pub first: Vec<String>,
}

/// What flood control held back before this finding was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// How many findings of the same problem were held back.
    pub findings: u64,
    /// How many occurrences those findings counted.
    pub occurrences: u64,
    /// The suppression window, in seconds.
    pub window_seconds: u64,
}

/// A finding's details: the rule's own (reached through `Deref`, as a map) and what later
/// stages add, typed. Serialised as one JSON object whose members are sorted by name, as the
/// schema has always had them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// What the rule's captures, the platform records and the parsers read: figures,
    /// principal, action, resource, …
    pub found: BTreeMap<String, Value>,
    /// [`VALUES`]: per detail that varied within the problem, its values.
    pub varied: BTreeMap<String, Varied>,
    /// [`MERGED_KEYS`]: how many keys a finding past the rule's cap merges.
    pub merged_keys: Option<u64>,
    /// [`CONTEXT`]: the last application lines before the failure, redacted.
    pub context: Vec<Evidence>,
    /// [`ENRICHMENT`]: what enrichment did, or why it did nothing.
    pub enrichment: Option<String>,
    /// [`SUPPRESSED_FINDINGS`] and its companions: what flood control held back.
    pub held: Option<Held>,
}

impl Details {
    /// Details that are only what was read from the lines.
    pub fn found(found: BTreeMap<String, Value>) -> Self {
        Self { found, ..Self::default() }
    }

    /// Every member of the JSON object, by name: what the finding JSON carries, and what a
    /// rendering lists.
    pub fn members(&self) -> BTreeMap<String, Value> {
        let mut members = self.found.clone();
        if !self.varied.is_empty() {
            members.insert(VALUES.into(), json!(self.varied));
        }
        if let Some(keys) = self.merged_keys {
            members.insert(MERGED_KEYS.into(), json!(keys));
        }
        if !self.context.is_empty() {
            members.insert(CONTEXT.into(), json!(self.context));
        }
        if let Some(note) = &self.enrichment {
            members.insert(ENRICHMENT.into(), json!(note));
        }
        if let Some(held) = self.held {
            members.insert(SUPPRESSED_FINDINGS.into(), json!(held.findings));
            members.insert(SUPPRESSED_OCCURRENCES.into(), json!(held.occurrences));
            members.insert(SUPPRESS_WINDOW_SECONDS.into(), json!(held.window_seconds));
        }
        members
    }

    /// Reads the JSON object back: each stage's member into its field when it has the
    /// schema's shape, everything else into [`Self::found`].
    fn from_members(mut found: BTreeMap<String, Value>) -> Self {
        fn take<T: serde::de::DeserializeOwned>(found: &mut BTreeMap<String, Value>, name: &str) -> Option<T> {
            let value = found.get(name)?;
            let typed = serde_json::from_value(value.clone()).ok()?;
            found.remove(name);
            Some(typed)
        }
        let varied = take(&mut found, VALUES).unwrap_or_default();
        let merged_keys = take(&mut found, MERGED_KEYS);
        let context = take(&mut found, CONTEXT).unwrap_or_default();
        let enrichment = take(&mut found, ENRICHMENT);
        let counts = [SUPPRESSED_FINDINGS, SUPPRESSED_OCCURRENCES, SUPPRESS_WINDOW_SECONDS]
            .map(|name| found.get(name).and_then(Value::as_u64));
        let held = match counts {
            [Some(findings), Some(occurrences), Some(window_seconds)] => {
                for name in [SUPPRESSED_FINDINGS, SUPPRESSED_OCCURRENCES, SUPPRESS_WINDOW_SECONDS] {
                    found.remove(name);
                }
                Some(Held { findings, occurrences, window_seconds })
            }
            _ => None,
        };
        Self { found, varied, merged_keys, context, enrichment, held }
    }
}

/// The rule's own details read as a map: `details.get("host")`, `details["memory_size_mb"]`.
impl Deref for Details {
    type Target = BTreeMap<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.found
    }
}

impl DerefMut for Details {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.found
    }
}

impl Serialize for Details {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.members().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Value>::deserialize(deserializer).map(Self::from_members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_details_are_members_of_one_object_and_read_back_as_they_were() {
        let mut details = Details::found(BTreeMap::from([("host".to_owned(), json!("db.internal"))]));
        details.varied.insert("host".into(), Varied { total: 7, first: vec!["a".into(), "b".into()] });
        details.merged_keys = Some(12);
        details.context = vec![Evidence { timestamp: "2024-03-04T17:22:38.033Z".into(), message: "loading".into() }];
        details.enrichment = Some("7 line(s) fetched".into());
        details.held = Some(Held { findings: 2, occurrences: 40, window_seconds: 3600 });
        let json = serde_json::to_value(&details).unwrap();
        assert_eq!(
            json,
            json!({
                "context": [{"timestamp": "2024-03-04T17:22:38.033Z", "message": "loading"}],
                "enrichment": "7 line(s) fetched",
                "host": "db.internal",
                "merged_keys": 12,
                "suppress_window_seconds": 3600,
                "suppressed_findings": 2,
                "suppressed_occurrences": 40,
                "values": {"host": {"total": 7, "first": ["a", "b"]}},
            })
        );
        assert_eq!(serde_json::from_value::<Details>(json).unwrap(), details);
    }

    #[test]
    fn a_member_of_another_shape_stays_among_the_found_details() {
        let read: Details = serde_json::from_value(json!({"values": [1, 2], "suppressed_findings": 1})).unwrap();
        assert!(read.varied.is_empty() && read.held.is_none());
        assert_eq!(read["values"], json!([1, 2]));
        assert_eq!(read["suppressed_findings"], json!(1));
    }
}
