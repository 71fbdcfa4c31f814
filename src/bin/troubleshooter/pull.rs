//! `troubleshooter pull`: what went wrong in a function's logs over the last hours, read from
//! CloudWatch Logs with the standard AWS configuration chain, and reported as `scan` reports a
//! file, without installing a subscription.
//!
//! Each log group is read with `FilterLogEvents`, paged to the end under a budget of events and
//! seconds the user can raise; the events are split per log stream (a stream is one execution
//! environment, as a subscription delivers them) and analysed like any batch. Progress goes to
//! stderr, only when it is a terminal. `--follow` then polls for new events every few seconds
//! and reports each new finding once, until Ctrl-C.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::aws::logs::{LogsError, LogsReader, Query};
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::ingest::input::{Origin, batches_by_stream};
use lambda_troubleshooter::ingest::{EventText, LogEvent};
use lambda_troubleshooter::model::finding::rfc3339_millis;

use crate::Format;
use crate::error::CliError;
use crate::scan::print_findings;
use crate::summary::Summary;

/// How often `--follow` asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// How many recent events per stream `--follow` keeps, so a line that arrives later (a REPORT
/// after its `Task timed out`) is analysed with the lines before it.
const FOLLOW_CONTEXT_EVENTS: usize = 500;

/// What `pull` was asked to do (its command-line arguments).
#[derive(clap::Args)]
pub struct PullArgs {
    /// A function whose log group /aws/lambda/NAME to read (repeatable).
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// A log group to read (repeatable).
    #[arg(long = "log-group", value_name = "GROUP")]
    pub log_groups: Vec<String>,
    /// From: a duration before now (30m, 2h, 7days) or a time (2026-11-29T08:00:00Z).
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Until: the same (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// A CloudWatch Logs filter pattern (the detectors need REPORT lines and the lines around a
    /// failure: narrow with care).
    #[arg(long)]
    pub filter_pattern: Option<String>,
    /// Only log streams whose name starts with this.
    #[arg(long)]
    pub stream_prefix: Option<String>,
    /// For people (text, ending with a summary) or programs (json, one finding per line).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The region of the log groups (default: the AWS configuration chain).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS profile (default: the AWS configuration chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// Stop reading a log group after this many events, and report what was read.
    #[arg(long, default_value_t = 200_000)]
    pub max_events: usize,
    /// Stop reading a log group after this many seconds, and report what was read.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
    /// Events per FilterLogEvents page (1 to 10000; default: CloudWatch Logs' own, 10000).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub page_size: Option<i32>,
    /// Keep polling for new events and report new findings as they come, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
}

/// `2h` before now, or an RFC 3339 time, as milliseconds since the epoch.
fn time_arg(name: &str, text: &str, now_ms: i64) -> Result<i64, CliError> {
    if let Ok(duration) = humantime::parse_duration(text) {
        return Ok(now_ms.saturating_sub(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)));
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|_| {
        CliError::Usage(format!(
            "{name} {text:?}: expected a duration before now (30m, 2h, 7days) or a time (2026-11-29T08:00:00Z)"
        ))
    })
}

fn logs_error(error: LogsError) -> CliError {
    match error {
        LogsError::NoLogGroup { .. } => CliError::NoInput(error.to_string()),
        LogsError::AccessDenied { .. } | LogsError::NoCredentials { .. } => CliError::NotAllowed(error.to_string()),
        LogsError::Failed { .. } => CliError::Aws(error.to_string()),
    }
}

/// Reads, analyses and prints; with `--follow`, keeps going until Ctrl-C.
pub fn run(args: PullArgs) -> Result<(), CliError> {
    let mut log_groups: Vec<String> = args.functions.iter().map(|f| format!("/aws/lambda/{f}")).collect();
    log_groups.extend(args.log_groups.iter().cloned());
    if log_groups.is_empty() {
        return Err(CliError::Usage("name what to read: --function NAME or --log-group GROUP (repeatable)".into()));
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let start_ms = time_arg("--since", &args.since, now_ms)?;
    let end_ms = args.until.as_deref().map(|t| time_arg("--until", t, now_ms)).transpose()?;
    if end_ms.is_some_and(|end| end < start_ms) {
        return Err(CliError::Usage("--until is before --since".into()));
    }
    crate::aws::runtime()?.block_on(async {
        let config = crate::aws::sdk_config(args.region.as_deref(), args.profile.as_deref()).await?;
        let reader = LogsReader::from_config(&config, Duration::from_secs(10));
        let mut config = Config::from_env()?;
        if !reader.region().is_empty() {
            config.region = reader.region().to_owned();
        }
        let analysis = Analysis::new(config)?;
        Pull { args: &args, reader, analysis, start_ms, end_ms, log_groups }.run().await
    })
}

struct Pull<'a> {
    args: &'a PullArgs,
    reader: LogsReader,
    analysis: Analysis,
    start_ms: i64,
    end_ms: Option<i64>,
    log_groups: Vec<String>,
}

/// What one read gave for one log group.
struct Read {
    events: Vec<(String, LogEvent)>,
    /// Why reading stopped before the end, if it did.
    cut: Option<String>,
}

impl Pull<'_> {
    fn query(&self, log_group: &str, start_ms: i64, end_ms: Option<i64>) -> Query {
        Query {
            log_group: log_group.to_owned(),
            start_ms,
            end_ms,
            filter_pattern: self.args.filter_pattern.clone(),
            stream_prefix: self.args.stream_prefix.clone(),
            streams: Vec::new(),
            page_size: self.args.page_size,
        }
    }

    /// Every page of `query`, within the budget, with progress on a terminal.
    async fn read(&self, query: &Query, progress: &ProgressBar) -> Result<Read, CliError> {
        let started = Instant::now();
        let mut events: Vec<(String, LogEvent)> = Vec::new();
        let mut token = None;
        loop {
            let page = self.reader.page(query, token).await.map_err(logs_error)?;
            events.extend(page.events);
            if let (Some((_, first)), Some((_, last))) = (events.first(), events.last()) {
                progress.set_message(format!(
                    "{}: {} events, {} to {}",
                    query.log_group,
                    events.len(),
                    rfc3339_millis(first.timestamp),
                    rfc3339_millis(last.timestamp)
                ));
            }
            // An empty page may still carry a token: only its absence ends the read.
            token = page.next_token;
            if token.is_none() {
                return Ok(Read { events, cut: None });
            }
            if events.len() >= self.args.max_events {
                let cut = format!("stopped after {} events (--max-events)", events.len());
                return Ok(Read { events, cut: Some(cut) });
            }
            if started.elapsed() >= Duration::from_secs(self.args.max_seconds) {
                let cut = format!("stopped after {} s (--max-seconds)", self.args.max_seconds);
                return Ok(Read { events, cut: Some(cut) });
            }
        }
    }

    async fn run(&self) -> Result<(), CliError> {
        let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        progress.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        progress.enable_steady_tick(Duration::from_millis(120));
        let mut out = std::io::stdout().lock();
        let mut summary = Summary::default();
        let mut printed = Printed::default();
        let mut recent: BTreeMap<(String, String), Vec<LogEvent>> = BTreeMap::new();
        let mut last_ms = self.start_ms;
        for log_group in &self.log_groups {
            let read = self.read(&self.query(log_group, self.start_ms, self.end_ms), &progress).await?;
            if let Some(cut) = &read.cut {
                progress.suspend(|| eprintln!("troubleshooter: {log_group}: {cut}; what was read is reported"));
            }
            last_ms = read.events.iter().map(|(_, e)| e.timestamp).fold(last_ms, i64::max);
            for batch in batches_by_stream(read.events, &origin(log_group)) {
                let outcome = self.analysis.analyze_batch(&batch);
                summary.add(&batch, &outcome.findings);
                for finding in &outcome.findings {
                    printed.insert(&finding.id);
                }
                progress.suspend(|| print_findings(&outcome.findings, self.args.format, &mut out))?;
                if self.args.follow {
                    keep_recent(&mut recent, log_group, &batch.log_stream, batch.log_events);
                }
            }
        }
        if self.args.follow {
            self.follow(&progress, &mut out, &mut summary, &mut printed, recent, last_ms).await?;
        }
        progress.finish_and_clear();
        if matches!(self.args.format, Format::Text) {
            out.write_all(summary.render().as_bytes())?;
        }
        Ok(())
    }

    /// Polls every [`FOLLOW_EVERY`] for events after the last one seen, analyses each stream's
    /// new events with its recent ones, and prints the findings not printed yet, until Ctrl-C.
    async fn follow(
        &self,
        progress: &ProgressBar,
        out: &mut impl Write,
        summary: &mut Summary,
        printed: &mut Printed,
        mut recent: BTreeMap<(String, String), Vec<LogEvent>>,
        mut last_ms: i64,
    ) -> Result<(), CliError> {
        // The ids of the events read at or after `last_ms`: the next query starts there, so only
        // those can come again. Older ones are forgotten, so following for days keeps memory flat.
        let mut seen: HashMap<EventText, i64> =
            recent.values().flatten().map(|e| (e.id.clone(), e.timestamp)).collect();
        progress.set_message("following; Ctrl-C to stop");
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        loop {
            tokio::select! {
                _ = &mut interrupted => return Ok(()),
                () = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            for log_group in &self.log_groups {
                // From the last event's millisecond on: events of that millisecond that were
                // already read are skipped by id.
                let read = self.read(&self.query(log_group, last_ms, None), progress).await?;
                let new: Vec<(String, LogEvent)> =
                    read.events.into_iter().filter(|(_, e)| seen.insert(e.id.clone(), e.timestamp).is_none()).collect();
                last_ms = new.iter().map(|(_, e)| e.timestamp).fold(last_ms, i64::max);
                seen.retain(|_, timestamp| *timestamp >= last_ms);
                for batch in batches_by_stream(new, &origin(log_group)) {
                    let key = (log_group.clone(), batch.log_stream.clone());
                    let mut events = recent.remove(&key).unwrap_or_default();
                    let fresh = batch.log_events.len();
                    events.extend(batch.log_events);
                    let whole = lambda_troubleshooter::ingest::LogBatch { log_events: events, ..batch };
                    let outcome = self.analysis.analyze_batch(&whole);
                    let findings: Vec<_> = outcome.findings.into_iter().filter(|f| printed.insert(&f.id)).collect();
                    let counted = lambda_troubleshooter::ingest::LogBatch {
                        log_events: whole.log_events[whole.log_events.len() - fresh..].to_vec(),
                        ..whole.clone()
                    };
                    summary.add(&counted, &findings);
                    progress.suspend(|| print_findings(&findings, self.args.format, out))?;
                    keep_recent(&mut recent, log_group, &whole.log_stream, whole.log_events);
                }
            }
        }
    }
}

fn origin(log_group: &str) -> Origin {
    Origin { log_group: log_group.to_owned(), log_stream: String::new(), owner: String::new(), base_timestamp_ms: 0 }
}

/// The ids of the findings printed lately, so a finding re-analysed with a stream's recent
/// events is printed once: at most [`FOLLOW_PRINTED_IDS`], the oldest forgotten first (a finding
/// that old has left the recent events it came from).
#[derive(Debug, Default)]
struct Printed {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Printed {
    /// Remembers `id`; false when it was printed already.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == FOLLOW_PRINTED_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
        true
    }
}

/// How many printed finding ids `--follow` remembers.
const FOLLOW_PRINTED_IDS: usize = 10_000;
/// How many streams `--follow` keeps recent events of; the least recently active is dropped.
const FOLLOW_STREAMS: usize = 1_000;

/// Keeps the last [`FOLLOW_CONTEXT_EVENTS`] events of a stream, and at most [`FOLLOW_STREAMS`]
/// streams (the one with the oldest last event goes).
fn keep_recent(
    recent: &mut BTreeMap<(String, String), Vec<LogEvent>>,
    log_group: &str,
    stream: &str,
    mut events: Vec<LogEvent>,
) {
    let excess = events.len().saturating_sub(FOLLOW_CONTEXT_EVENTS);
    events.drain(..excess);
    recent.insert((log_group.to_owned(), stream.to_owned()), events);
    if recent.len() > FOLLOW_STREAMS {
        let last = |events: &Vec<LogEvent>| events.last().map_or(i64::MIN, |e| e.timestamp);
        if let Some(idle) = recent.iter().min_by_key(|(_, events)| last(events)).map(|(key, _)| key.clone()) {
            recent.remove(&idle);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn follow_remembers_a_bounded_number_of_ids_and_streams() {
        let mut printed = Printed::default();
        assert!(printed.insert("a"));
        assert!(!printed.insert("a"));
        for n in 0..FOLLOW_PRINTED_IDS * 2 {
            printed.insert(&n.to_string());
        }
        assert_eq!((printed.order.len(), printed.ids.len()), (FOLLOW_PRINTED_IDS, FOLLOW_PRINTED_IDS));
        assert!(printed.insert("a"), "the oldest ids are forgotten");

        let mut recent = BTreeMap::new();
        for n in 0..FOLLOW_STREAMS + 50 {
            let event = LogEvent { id: n.to_string().into(), timestamp: n as i64, message: "x".into() };
            keep_recent(&mut recent, "/aws/lambda/a", &format!("stream-{n}"), vec![event; FOLLOW_CONTEXT_EVENTS + 5]);
        }
        assert_eq!(recent.len(), FOLLOW_STREAMS);
        assert!(recent.values().all(|events| events.len() == FOLLOW_CONTEXT_EVENTS));
        assert!(!recent.contains_key(&("/aws/lambda/a".to_owned(), "stream-0".to_owned())), "the idlest stream goes");
    }
}
