//! Step 3, aggregation: one finding per problem, with honest numbers.
//!
//! A problem is a rule and a function (a batch is one log stream of one log group), split only
//! by the rule's `key` details: values that need a different fix (another secret, another IAM
//! action). Values that merely vary (addresses, ports, table names for the same action) are
//! the rule's `values`: listed inside the finding (`details.values`), never split into
//! findings, and the IAM fix of one action denied on seven tables is one statement with seven
//! resources. `count` is the number of occurrences, `requests` the distinct invocations when
//! their ids are known; the finding carries redacted evidence, the rendered summary and fix,
//! and a stable id.
//!
//! Over 400 lines: grouping and the one finding a group becomes (its numbers, merged details,
//! varying values, texts, evidence, links and id) are kept in one file, so that what a
//! subscriber reads can be checked against one place.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::detect::access;
use crate::detect::errors::FINGERPRINT_VERSION;
use crate::ingest::LogBatch;
use crate::model::Severity;
use crate::model::details::{self, Details, Varied};
use crate::model::finding::{
    Evidence, Finding, LONGEST_INVOCATION_MS, MAX_INSIGHTS_REQUEST_IDS, SCHEMA, console_url, excerpt, insights_query,
    insights_url, rfc3339_millis,
};
use crate::redact::Redactor;
use crate::rules::{Catalog, Parser, Rule};

/// The most values of a varying detail a finding lists in `details.values`; `total` says how
/// many there were.
pub const MAX_LISTED_VALUES: usize = 5;

use super::observation::{Observation, Subject};

/// The most evidence lines a finding carries.
pub const MAX_EVIDENCE: usize = 3;

/// Evidence lines are cut to this many bytes (at a character boundary).
pub const MAX_EVIDENCE_BYTES: usize = 2048;

/// The most request and event ids a finding lists.
pub const MAX_IDS: usize = 50;

/// Batch-wide values the templates and findings need.
pub(super) struct BatchContext<'a> {
    pub(super) batch: &'a LogBatch,
    pub(super) region: &'a str,
    pub(super) function: &'a str,
}

/// Lambda's largest memory setting, in MB.
pub(super) const MAX_MEMORY_MB: u64 = 10_240;

/// The observations of one problem: a rule and its key values.
struct Group<'a> {
    rule: usize,
    key: Vec<String>,
    observations: Vec<&'a Observation>,
    /// The keys past [`MAX_KEYS_PER_RULE`], merged: they are listed as varying values.
    overflow: bool,
}

/// The most findings one rule gives in one batch: one per key value (another IAM action,
/// another secret, another error fingerprint) up to one less than this, then one finding for
/// every other key, which lists them (`details.values`). 20,000 distinct denied actions in one
/// batch are 10 findings, not 20,000.
pub const MAX_KEYS_PER_RULE: usize = 10;

/// Step 3: one finding per (rule, key fields), at or above `min_severity`, the most severe
/// first.
pub(super) fn aggregate(
    catalog: &Catalog,
    min_severity: Severity,
    observations: &[Observation],
    context: &BatchContext<'_>,
) -> Vec<Finding> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(usize, Vec<String>), usize> = HashMap::new();
    // Per rule, how many keys have a finding of their own, and the group past the cap.
    let mut keys_per_rule: HashMap<usize, usize> = HashMap::new();
    let mut overflow: HashMap<usize, usize> = HashMap::new();
    for observation in observations {
        let rule = &catalog.rules()[observation.rule];
        let key: Vec<String> = rule
            .spec
            .key
            .iter()
            .map(|name| observation.details.get(name).map(value_text).unwrap_or_default())
            .collect();
        let slot = match index.get(&(observation.rule, key.clone())) {
            Some(&slot) => slot,
            None if keys_per_rule.get(&observation.rule).copied().unwrap_or(0) + 1 >= MAX_KEYS_PER_RULE => {
                // Past the cap, every other key of the rule is one finding that lists them.
                *overflow.entry(observation.rule).or_insert_with(|| {
                    groups.push(Group { rule: observation.rule, key, observations: Vec::new(), overflow: true });
                    groups.len() - 1
                })
            }
            None => {
                *keys_per_rule.entry(observation.rule).or_default() += 1;
                groups.push(Group {
                    rule: observation.rule,
                    key: key.clone(),
                    observations: Vec::new(),
                    overflow: false,
                });
                index.insert((observation.rule, key), groups.len() - 1);
                groups.len() - 1
            }
        };
        groups[slot].observations.push(observation);
    }
    let mut findings: Vec<Finding> = groups
        .iter()
        .filter(|g| catalog.rules()[g.rule].spec.severity >= min_severity)
        .map(|group| finding(&catalog.rules()[group.rule], group, context))
        .collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.first_seen.cmp(&b.first_seen)));
    findings
}

/// What a group's observations say, merged, with every text redacted: the details (the
/// varying values listed in `details.values`), the error's own fields, the values that varied,
/// who it is about and the events that show it, in batch order.
struct Merged<'a> {
    details: Details,
    error: ErrorFields,
    varying: Vec<(String, Vec<String>)>,
    subjects: Vec<&'a Subject>,
    events: Vec<usize>,
}

fn merge<'a>(rule: &Rule, group: &Group<'a>) -> Merged<'a> {
    let Gathered { subjects, mut details, mut events } = gather(group);
    if group.overflow {
        details.remove("fingerprint");
    }
    let error = ErrorFields::take(&mut details);
    if let Some(size) = details.get("memory_size_mb").and_then(Value::as_u64) {
        details.entry("suggested_memory_mb".into()).or_insert_with(|| json!(suggest_memory(size)));
    }
    let mut varying = varying_values(group, &rule.spec.values);
    let mut merged_keys = None;
    if group.overflow {
        // The merged keys are what varies; the first one's error fields do not name them all.
        let merged = varying_values(group, &rule.spec.key);
        merged_keys = Some(merged.iter().map(|(_, values)| values.len()).max().unwrap_or(0) as u64);
        varying.extend(merged);
    }
    if rule.spec.parser == Some(Parser::AccessDenied) {
        merge_allow_statements(group, &mut details);
    }
    for value in details.values_mut() {
        if let Value::String(text) = value {
            *text = Redactor.redact(text);
        }
    }
    let varied = varying
        .iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(name, values)| {
            let first = values.iter().take(MAX_LISTED_VALUES).map(|v| Redactor.redact(v)).collect();
            (name.clone(), Varied { total: values.len() as u64, first })
        })
        .collect();
    events.sort_unstable();
    let details = Details { varied, merged_keys, ..Details::found(details) };
    Merged { details, error, varying, subjects, events }
}

/// The finding of one group: the rule's text rendered with the merged details, the numbers,
/// the evidence and the links.
fn finding(rule: &Rule, group: &Group<'_>, context: &BatchContext<'_>) -> Finding {
    let batch = context.batch;
    let Merged { details, error, varying, subjects, events } = merge(rule, group);
    // Occurrences: a failure that ends its invocation happens once per invocation (its error
    // line and REPORT are one occurrence); anything else once per log event.
    let count = if rule.spec.category.ends_the_invocation() { subjects.len() } else { group.observations.len() } as u64;
    let named: Vec<&str> = subjects
        .iter()
        .filter_map(|s| match s {
            Subject::Request(id) => Some(id.as_ref()),
            Subject::Init(_) | Subject::Unnamed(_) => None,
        })
        .collect();
    let requests = (!named.is_empty()).then_some(named.len() as u64);
    // Read from log text like the evidence, so redacted like it: a line forged to look like a
    // platform record must not carry a secret out as a request id.
    let request_ids: Vec<String> = named.iter().take(MAX_IDS).map(|id| Redactor.redact(id)).collect();
    let one_per_invocation = requests == Some(count) && named.len() == subjects.len();
    let first_event = &batch.log_events[events[0]];
    let last_event = &batch.log_events[events[events.len() - 1]];
    let lookup = |name: &str| -> Option<String> {
        match name {
            "function" => Some(context.function.to_owned()),
            "log_group" => Some(batch.log_group.clone()),
            "account" => Some(batch.owner.clone()),
            "region" => Some(context.region.to_owned()),
            "partition" => Some(crate::model::partition(context.region).to_owned()),
            "count" => Some(count.to_string()),
            _ => error.get(name).or_else(|| details.get(name).map(value_text)),
        }
    };
    let mut summary =
        rule.summary.render(&lookup).unwrap_or_else(|| format!("{}: {}", context.function, rule.spec.title));
    summary.push_str(&occurrences_note(count, requests, one_per_invocation, &varying));
    let fix = rule.fix.iter().filter_map(|step| step.render(&lookup)).filter(|s| !s.trim().is_empty()).collect();
    let insights_url = (!request_ids.is_empty()).then(|| {
        let ids: Vec<String> = request_ids.iter().take(MAX_INSIGHTS_REQUEST_IDS).cloned().collect();
        let (from, to) = (first_event.timestamp.saturating_sub(LONGEST_INVOCATION_MS), last_event.timestamp);
        insights_url(context.region, &batch.log_group, from, to.saturating_add(60_000), &insights_query(&ids))
    });
    Finding {
        schema: SCHEMA.to_owned(),
        id: finding_id(rule.id(), &batch.log_group, &group.key, &first_event.id, first_event.timestamp),
        rule_id: rule.id().to_owned(),
        category: rule.spec.category,
        severity: rule.spec.severity,
        title: error.title.clone().unwrap_or_else(|| rule.spec.title.clone()),
        summary,
        cause: rule.spec.cause.clone(),
        fix,
        docs: rule.spec.docs.clone(),
        account: batch.owner.clone(),
        region: context.region.to_owned(),
        log_group: batch.log_group.clone(),
        log_stream: batch.log_stream.clone(),
        function: context.function.to_owned(),
        count,
        requests,
        first_seen: rfc3339_millis(first_event.timestamp),
        last_seen: rfc3339_millis(last_event.timestamp),
        request_ids,
        event_ids: events
            .iter()
            .map(|&i| batch.log_events[i].id.to_string())
            .filter(|id| !id.is_empty())
            .take(MAX_IDS)
            .collect(),
        evidence: evidence(batch, &events),
        details,
        console_url: console_url(context.region, &batch.log_group, &batch.log_stream),
        insights_url,
        fingerprint_version: error.fingerprint.is_some().then_some(FINGERPRINT_VERSION),
        fingerprint: error.fingerprint,
        error_type: error.error_type,
        top_frame: error.top_frame,
        new_error_type: None,
    }
}

/// The first events that show the problem, redacted and cut to [`MAX_EVIDENCE_BYTES`].
fn evidence(batch: &LogBatch, events: &[usize]) -> Vec<Evidence> {
    events
        .iter()
        .take(MAX_EVIDENCE)
        .map(|&i| {
            let event = &batch.log_events[i];
            Evidence {
                timestamp: rfc3339_millis(event.timestamp),
                message: excerpt(&Redactor.redact(event.message.trim_end()), MAX_EVIDENCE_BYTES),
            }
        })
        .collect()
}

/// The fields of an unhandled error that the finding carries at its top level, not in details.
struct ErrorFields {
    title: Option<String>,
    fingerprint: Option<String>,
    error_type: Option<String>,
    top_frame: Option<String>,
}

impl ErrorFields {
    /// A field by its detail name, for the rule's templates.
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "error_title" => self.title.clone(),
            "fingerprint" => self.fingerprint.clone(),
            "error_type" => self.error_type.clone(),
            "top_frame" => self.top_frame.clone(),
            _ => None,
        }
    }

    /// Takes them out of `details` when it holds a fingerprint (an error's observation);
    /// leaves details as they are otherwise (`error_type` is also a platform detail).
    fn take(details: &mut BTreeMap<String, Value>) -> Self {
        let mut text = |name: &str| match details.remove(name) {
            Some(Value::String(text)) => Some(Redactor.redact(&text)),
            _ => None,
        };
        let fingerprint = text("fingerprint");
        if fingerprint.is_none() {
            return Self { title: None, fingerprint: None, error_type: None, top_frame: None };
        }
        Self { title: text("error_title"), fingerprint, error_type: text("error_type"), top_frame: text("top_frame") }
    }
}

/// The distinct values of each of the rule's `values` details, in order of first appearance.
fn varying_values(group: &Group<'_>, names: &[String]) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .map(|name| {
            // Borrowed while deduplicating: a storm repeats a few values thousands of times.
            let mut seen: HashSet<Cow<'_, str>> = HashSet::new();
            let mut values = Vec::new();
            for observation in &group.observations {
                let value = match observation.details.get(name) {
                    Some(Value::String(text)) => Cow::Borrowed(text.as_str()),
                    Some(other) => Cow::Owned(value_text(other)),
                    None => continue,
                };
                if !seen.contains(&value) {
                    values.push(value.clone().into_owned());
                    seen.insert(value);
                }
            }
            (name.clone(), values)
        })
        .collect()
}

/// One IAM fix for one action denied on several resources: the Allow statement (and the
/// command that adds it) lists every resource, instead of the first one's alone.
fn merge_allow_statements(group: &Group<'_>, details: &mut BTreeMap<String, Value>) {
    // Each distinct statement once, in order: a storm repeats the same few.
    let mut seen = HashSet::new();
    let statements: Vec<&str> = group
        .observations
        .iter()
        .filter_map(|o| o.details.get("iam_statement").and_then(Value::as_str))
        .filter(|statement| seen.insert(*statement))
        .collect();
    let role = details.get("role").and_then(Value::as_str).map(str::to_owned);
    if let Some((statement, command)) = access::merge_statements(&statements, role.as_deref()) {
        details.insert("iam_statement".into(), Value::String(statement));
        if let Some(command) = command {
            details.insert("iam_command".into(), Value::String(command));
        }
    }
}

/// What the summary adds to the rule's sentence: how often, in how many invocations, and how
/// many different values varied, e.g. ` (2000 times in 1800 invocations, 200 different hosts)`.
fn occurrences_note(
    count: u64,
    requests: Option<u64>,
    one_per_invocation: bool,
    varying: &[(String, Vec<String>)],
) -> String {
    let mut parts = Vec::new();
    if count > 1 {
        parts.push(match requests {
            _ if one_per_invocation => format!("{count} invocations"),
            Some(1) => format!("{count} times in 1 invocation"),
            Some(requests) => format!("{count} times in {requests} invocations"),
            None => format!("{count} times"),
        });
    }
    for (name, values) in varying.iter().filter(|(_, values)| values.len() > 1) {
        parts.push(format!("{} different {}", values.len(), details::plural(name)));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

/// What a group's observations add up to, before rendering.
struct Gathered<'a> {
    /// Who the observations are about, in order of first appearance.
    subjects: Vec<&'a Subject>,
    /// Every detail, the first value of each name winning.
    details: BTreeMap<String, Value>,
    /// Every event that shows the problem, without repeats.
    events: Vec<usize>,
}

fn gather<'a>(group: &Group<'a>) -> Gathered<'a> {
    let mut observations = group.observations.clone();
    observations.sort_by_key(|o| o.event);
    let mut gathered = Gathered { subjects: Vec::new(), details: BTreeMap::new(), events: Vec::new() };
    // Sets beside the lists: a storm's group holds tens of thousands of subjects and events,
    // and a search of the list for each would take time in the square of their number.
    let mut subjects: HashSet<&Subject> = HashSet::new();
    let mut events: HashSet<usize> = HashSet::new();
    for o in observations {
        if subjects.insert(&o.subject) {
            gathered.subjects.push(&o.subject);
        }
        for &event in std::iter::once(&o.event).chain(&o.related) {
            if events.insert(event) {
                gathered.events.push(event);
            }
        }
        for (name, value) in &o.details {
            gathered.details.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    gathered
}

/// The next memory size worth trying: double, rounded up to 64 MB, within Lambda's limit.
pub fn suggest_memory(size_mb: u64) -> u64 {
    (size_mb.saturating_mul(2).div_ceil(64) * 64).clamp(256, MAX_MEMORY_MB)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15) => {
            format!("{}", n.as_f64().unwrap_or_default() as i64)
        }
        other => other.to_string(),
    }
}

/// Stable id: the same batch always gives the same ids, so retries can be deduplicated.
fn finding_id(rule_id: &str, log_group: &str, key: &[String], first_event_id: &str, first_timestamp: i64) -> String {
    let mut hasher = Sha256::new();
    for part in [rule_id, log_group].into_iter().chain(key.iter().map(String::as_str)) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    if first_event_id.is_empty() {
        hasher.update(first_timestamp.to_be_bytes());
    } else {
        hasher.update(first_event_id.as_bytes());
    }
    hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
