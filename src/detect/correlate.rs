//! Step 2, correlation: what each invocation's platform records mean (out of memory, timeout,
//! crash, memory pressure), failed and suppressed inits, and denials that recovered.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use crate::detect::platform::{InitPhase, Status};
use crate::ingest::LogBatch;
use crate::model::Category;
use crate::model::finding::function_name;
use crate::rules::{Catalog, Detector};

use super::invocation::{Context, classify, status_name};
use super::observation::{Observation, PhaseFailure, Scan, ShownDetails, Subject};
use super::unhandled;

/// A denial followed by a success within this many seconds is propagation delay (about 2
/// minutes documented; invocations may be sparser than that).
pub const PROPAGATION_WINDOW_SECONDS: i64 = 300;

/// The categories correlation asks about per subject.
const KEPT: [Category; 3] = [Category::OutOfMemory, Category::RuntimeStartup, Category::RuntimeCrash];

/// The categories observed per subject.
#[derive(Default)]
struct SubjectCategories {
    by_subject: HashMap<Subject, Vec<Category>, foldhash::fast::RandomState>,
}

impl SubjectCategories {
    fn insert(&mut self, subject: &Subject, category: Category) {
        // Only the categories correlation asks about are kept: a storm of timeouts adds none.
        if !KEPT.contains(&category) {
            return;
        }
        let categories = self.by_subject.entry(subject.clone()).or_default();
        if !categories.contains(&category) {
            categories.push(category);
        }
    }

    /// Whether `subject` has any of `categories`: only those [`Self::insert`] keeps.
    fn has(&self, subject: &Subject, categories: &[Category]) -> bool {
        debug_assert!(categories.iter().all(|c| KEPT.contains(c)), "{categories:?} are not kept");
        self.by_subject.get(subject).is_some_and(|seen| categories.iter().any(|c| seen.contains(c)))
    }
}

/// What correlation adds to as it goes: the observations, the categories each subject has
/// (a lookup per question, not a scan of every observation), and the details shown.
struct Found<'a> {
    catalog: &'a Catalog,
    new: Vec<Observation>,
    seen: SubjectCategories,
    shown: ShownDetails,
}

impl Found<'_> {
    /// Adds the observation of a platform detector's rule, when the catalog has the rule.
    fn push(
        &mut self,
        detector: Detector,
        (event, related): (usize, Vec<usize>),
        subject: &Subject,
        mut details: BTreeMap<String, Value>,
    ) {
        if let Some(rule) = self.catalog.detector_rule(detector) {
            self.seen.insert(subject, self.catalog.rules()[rule].spec.category);
            self.shown.lean(self.catalog, rule, &mut details);
            self.new.push(Observation { rule, event, related, subject: subject.clone(), details });
        }
    }
}

/// Step 2: what each request's platform records mean, failed and suppressed inits, denials
/// that recovered, and last the failures no rule explains ([`unhandled::observe`]).
pub(super) fn correlate(catalog: &Catalog, mut scan: Scan, batch: &LogBatch, logged_errors: bool) -> Vec<Observation> {
    let mut seen = SubjectCategories::default();
    for observation in &scan.observations {
        seen.insert(&observation.subject, observation.category(catalog));
    }
    let shown = std::mem::take(&mut scan.shown);
    let mut found = Found { catalog, new: Vec::new(), seen, shown };
    // The subjects whose suppressed init timed out, looked up once per invocation.
    let init_timed_out: HashSet<&Subject> =
        scan.phase_failures.iter().filter(|f| f.status == Some(Status::Timeout)).map(|f| &f.subject).collect();
    for subject in &scan.order {
        let Some(invocation) = scan.requests.get(subject) else { continue };
        let outcome = invocation.outcome_events();
        let Some(&first) = outcome.first() else { continue };
        let context = Context {
            oom_text: found.seen.has(subject, &[Category::OutOfMemory]),
            startup_or_crash_found: found.seen.has(subject, &[Category::RuntimeStartup, Category::RuntimeCrash]),
            suppressed_init_timed_out: init_timed_out.contains(subject),
        };
        if let Some((detector, details)) = classify(invocation, context) {
            found.push(detector, (first, outcome), subject, details);
        }
    }
    for failure in &scan.phase_failures {
        correlate_phase(failure, &mut found);
    }
    scan.observations.extend(found.new);
    drop_explained_class_hits(catalog, &mut scan.observations);
    reclassify_recovered_denials(catalog, &mut scan, batch);
    let unexplained = unhandled::observe(catalog, &scan, function_name(&batch.log_group), logged_errors);
    scan.observations.extend(unexplained);
    scan.observations
}

/// A class rule's hit ([`RuleSpec::fallback`](crate::rules::RuleSpec)) is another
/// observation's when that one holds its line as evidence or sits on the line next to it (a
/// message wrapped over two lines), explains its invocation, or already reports its category
/// for the function in this batch: one failure, one finding, the more specific one.
fn drop_explained_class_hits(catalog: &Catalog, observations: &mut Vec<Observation>) {
    let class = |o: &Observation| catalog.rules()[o.rule].spec.fallback;
    if !observations.iter().any(class) {
        return;
    }
    let mut events = HashSet::new();
    let mut requests = HashSet::new();
    let mut categories = HashSet::new();
    for o in observations.iter().filter(|o| !class(o)) {
        events.extend([o.event.saturating_sub(1), o.event, o.event + 1]);
        events.extend(o.related.iter().copied());
        categories.insert(o.category(catalog));
        if matches!(o.subject, Subject::Request(_)) {
            requests.insert(o.subject.clone());
        }
    }
    observations.retain(|o| {
        !class(o)
            || !(events.contains(&o.event)
                || requests.contains(&o.subject)
                || categories.contains(&o.category(catalog)))
    });
}

/// A failed init or restore, or a suppressed init, unless a more specific finding (an
/// import error, an out-of-memory kill) already explains it.
fn correlate_phase(failure: &PhaseFailure, found: &mut Found<'_>) {
    let mut details = BTreeMap::new();
    if let Some(status) = failure.status {
        details.insert("status".into(), json!(status_name(status)));
    }
    if let Some(error_type) = &failure.error_type {
        details.insert("error_type".into(), json!(error_type));
    }
    let shown = (failure.event, Vec::new());
    if failure.restore {
        if let Some(ms) = failure.duration_ms {
            details.insert("restore_duration_ms".into(), json!(ms));
        }
        if !found.seen.has(&failure.subject, &[Category::RuntimeStartup, Category::OutOfMemory]) {
            found.push(Detector::RestoreFailure, shown, &failure.subject, details);
        }
        return;
    }
    let suppressed = failure.phase == Some(InitPhase::Invoke);
    details.insert("phase".into(), json!(if suppressed { "invoke" } else { "init" }));
    if let Some(ms) = failure.duration_ms {
        details.insert("init_duration_ms".into(), json!(ms));
    }
    if suppressed || failure.status != Some(Status::Error) {
        details.insert("init_outcome".into(), json!(init_outcome(failure)));
    }
    let timed_out = match failure.status {
        Some(Status::Timeout) => true,
        Some(Status::Error) => false,
        // A suppressed init without a failure: the first init did not complete. Past the
        // 10 s limit it timed out; otherwise it failed and its cause is in earlier lines.
        Some(Status::Success) | None => true,
    };
    if timed_out {
        // An out-of-memory kill during a suppressed init is reported as out of memory.
        if !found.seen.has(&failure.subject, &[Category::OutOfMemory]) {
            found.push(Detector::InitTimeout, shown, &failure.subject, details);
        }
    } else if !found
        .seen
        .has(&failure.subject, &[Category::RuntimeStartup, Category::OutOfMemory, Category::RuntimeCrash])
    {
        found.push(Detector::InitFailure, shown, &failure.subject, details);
    }
}

/// A denial (implicit, parsed) followed in the batch by a successful invocation of the
/// same function is reported as propagation delay, not as a missing permission
/// (IAM is eventually consistent:
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>).
/// Explicit denies and KMS denials stay as they are.
fn reclassify_recovered_denials(catalog: &Catalog, scan: &mut Scan, batch: &LogBatch) {
    let Some(target) = catalog.detector_rule(Detector::DenialThenSuccess) else { return };
    let denied_requests: HashSet<Subject> = scan
        .observations
        .iter()
        .filter(|o| matches!(o.category(catalog), Category::SecretAccessDenied | Category::AccessDenied))
        .filter(|o| matches!(o.subject, Subject::Request(_)))
        .map(|o| o.subject.clone())
        .collect();
    if denied_requests.is_empty() {
        return;
    }
    // Where each invocation stands in the batch, and, from each position on, the first
    // successful invocation that was not denied: one pass back to front, so each denial
    // finds its recovery in constant time (a search per denial took time in the square
    // of the batch's invocations).
    let position: HashMap<&Subject, usize> = scan.order.iter().enumerate().map(|(i, s)| (s, i)).collect();
    let mut next_success: Vec<Option<usize>> = vec![None; scan.order.len() + 1];
    for (i, subject) in scan.order.iter().enumerate().rev() {
        let succeeded = matches!(subject, Subject::Request(_))
            && !denied_requests.contains(subject)
            && scan.requests.get(subject).is_some_and(|state| state.succeeded() && state.report.is_some());
        next_success[i] = if succeeded { Some(i) } else { next_success[i + 1] };
    }
    for observation in &mut scan.observations {
        let category = catalog.rules()[observation.rule].spec.category;
        let implicit = observation.details.get("deny").and_then(Value::as_str) == Some("implicit");
        if !matches!(category, Category::SecretAccessDenied | Category::AccessDenied) || !implicit {
            continue;
        }
        let denied = &observation.subject;
        if !matches!(denied, Subject::Request(_)) {
            continue;
        }
        let Some(&position) = position.get(denied) else { continue };
        let denied_at = batch.log_events[observation.event].timestamp;
        let recovered = next_success[position + 1].and_then(|next| {
            let subject = &scan.order[next];
            let Subject::Request(id) = subject else { return None };
            let state = scan.requests.get(subject)?;
            let at = batch.log_events[state.report.as_ref()?.event].timestamp;
            let in_window = at.saturating_sub(denied_at) <= PROPAGATION_WINDOW_SECONDS * 1000;
            in_window.then_some((id, at))
        });
        let Some((recovered_id, recovered_at)) = recovered else { continue };
        let denied_rule_id = catalog.rules()[observation.rule].id().to_owned();
        observation.rule = target;
        observation.details.insert("denied_rule_id".into(), json!(denied_rule_id));
        observation.details.insert("recovered_request_id".into(), json!(recovered_id.as_ref()));
        observation.details.insert(
            "recovered_after_seconds".into(),
            json!((recovered_at.saturating_sub(denied_at).max(0) as f64) / 1000.0),
        );
    }
}

/// On-demand init is limited to 10 s (Lambda's lifecycle page,
/// <https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>); an init that
/// ran this long hit it.
const INIT_LIMIT_MS: f64 = 9_500.0;

/// What happened to an init phase, in words, from its phase, status and duration against the
/// 10 s limit (Lambda's lifecycle page: `Phase: invoke` is a suppressed init, re-run inside the
/// invocation under the function timeout after the first init failed or timed out).
fn init_outcome(failure: &PhaseFailure) -> String {
    let at_limit = failure.duration_ms.is_some_and(|ms| ms >= INIT_LIMIT_MS);
    let error = failure.error_type.as_deref().unwrap_or("an error");
    match (failure.phase == Some(InitPhase::Invoke), failure.status) {
        (false, Some(Status::Timeout)) if at_limit => "init ran into the 10 s limit of the init phase".into(),
        (false, Some(Status::Timeout)) => {
            "init timed out before its 10 s limit ran out (provisioned concurrency and SnapStart have their own limit)"
                .into()
        }
        (false, _) => format!("init failed with {error}"),
        (true, Some(Status::Timeout)) => "the first init did not complete, Lambda ran it again inside the invocation (a suppressed init), and it timed out again under the function timeout".into(),
        (true, Some(Status::Error)) => format!("the first init did not complete, Lambda ran it again inside the invocation (a suppressed init), and it failed with {error}"),
        (true, _) if at_limit => "the first init did not complete: this suppressed init, run inside the invocation, took longer than the 10 s init limit, so the first init timed out".into(),
        (true, _) => "the first init did not complete (it timed out or failed), so Lambda ran it again inside the invocation (a suppressed init)".into(),
    }
}
