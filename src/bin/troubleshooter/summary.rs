//! The table `troubleshooter scan` ends with, in text format: findings by category and
//! severity, the functions with the most findings, the time span the logs cover, and the
//! unhandled errors grouped by fingerprint across every batch read, like an issue list: count,
//! first and last seen, and one sample.
//!
//! Built batch by batch ([`Summary::add`]), so `pull` feeds it the batches it reads the same
//! way. `--format json` prints no summary: its output is one
//! finding per line for programs (which count with `jq` what they need), and stderr stays for
//! errors, so a script can tell a failure from chatter.

use std::fmt::Write;

use lambda_troubleshooter::ingest::LogBatch;
use lambda_troubleshooter::model::finding::rfc3339_millis;
use lambda_troubleshooter::model::{Category, Finding, Severity};
use lambda_troubleshooter::report::metrics::{FindingCounts, Tally};

/// How many functions the table lists; the rest are counted in one line.
const TOP_FUNCTIONS: usize = 10;
/// How many error groups the list shows; the rest are counted in one line.
const TOP_ERRORS: usize = 20;
/// The longest sample line shown, in characters.
const SAMPLE_CHARS: usize = 160;

/// One fingerprint's unhandled errors over every batch read.
#[derive(Debug)]
struct ErrorGroup {
    function: String,
    fingerprint: String,
    version: Option<u32>,
    title: String,
    top_frame: Option<String>,
    logged: bool,
    count: u64,
    first_seen: String,
    last_seen: String,
    sample: Option<String>,
}

/// What the batches read so far held.
#[derive(Debug, Default)]
pub struct Summary {
    counts: FindingCounts,
    events: usize,
    /// The earliest and latest event time, milliseconds since the epoch.
    span: Option<(i64, i64)>,
    /// Unhandled errors by (function, fingerprint), in order of first appearance.
    errors: Vec<ErrorGroup>,
    error_index: std::collections::HashMap<(String, String), usize>,
}

impl Summary {
    /// Counts one batch and the findings analysing it gave.
    pub fn add(&mut self, batch: &LogBatch, findings: &[Finding]) {
        self.events += batch.log_events.len();
        for event in &batch.log_events {
            self.span = Some(match self.span {
                None => (event.timestamp, event.timestamp),
                Some((first, last)) => (first.min(event.timestamp), last.max(event.timestamp)),
            });
        }
        for finding in findings {
            self.counts.add(finding);
            self.add_error(finding);
        }
    }

    fn add_error(&mut self, finding: &Finding) {
        let Some(fingerprint) = &finding.fingerprint else { return };
        let key = (finding.function.clone(), fingerprint.clone());
        if let Some(&at) = self.error_index.get(&key) {
            let group = &mut self.errors[at];
            group.count += finding.count;
            group.first_seen = group.first_seen.clone().min(finding.first_seen.clone());
            group.last_seen = group.last_seen.clone().max(finding.last_seen.clone());
            return;
        }
        self.error_index.insert(key, self.errors.len());
        self.errors.push(ErrorGroup {
            function: finding.function.clone(),
            fingerprint: fingerprint.clone(),
            version: finding.fingerprint_version,
            title: finding.title.clone(),
            top_frame: finding.top_frame.clone(),
            logged: finding.rule_id == "logged-error",
            count: finding.count,
            first_seen: finding.first_seen.clone(),
            last_seen: finding.last_seen.clone(),
            sample: finding.evidence.first().map(|e| {
                let line = e.message.lines().next().unwrap_or_default();
                let line: String = line.chars().take(SAMPLE_CHARS).collect();
                format!("{} {line}", e.timestamp)
            }),
        });
    }

    /// The unhandled errors grouped by fingerprint, most frequent first.
    fn render_errors(&self, out: &mut String) {
        if self.errors.is_empty() {
            return;
        }
        let mut groups: Vec<&ErrorGroup> = self.errors.iter().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        let _ = writeln!(out, "\nUnhandled errors, grouped by fingerprint ({}):", groups.len());
        let width = groups.iter().map(|g| g.function.chars().count()).max().unwrap_or(0).max("function".len());
        let _ =
            writeln!(out, "  {:>7}  {:<24}  {:<24}  {:<width$}  error", "count", "first seen", "last seen", "function");
        for group in groups.iter().take(TOP_ERRORS) {
            let _ = writeln!(
                out,
                "  {:>7}  {:<24}  {:<24}  {:<width$}  {}",
                group.count, group.first_seen, group.last_seen, group.function, group.title
            );
            let mut about = String::new();
            if let Some(frame) = &group.top_frame {
                let _ = write!(about, "at {frame} · ");
            }
            let _ = write!(about, "fingerprint {}", group.fingerprint);
            if let Some(version) = group.version {
                let _ = write!(about, " (v{version})");
            }
            if group.logged {
                about.push_str(" · logged, the invocation did not fail");
            }
            let _ = writeln!(out, "           {about}");
            if let Some(sample) = &group.sample {
                let _ = writeln!(out, "           sample: {sample}");
            }
        }
        if groups.len() > TOP_ERRORS {
            let _ = writeln!(out, "  … and {} more fingerprint(s)", groups.len() - TOP_ERRORS);
        }
    }

    /// The summary, for people: a line of totals, the time span, and the two tables.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let total = self.counts.total();
        if total.findings == 0 {
            let _ = writeln!(out, "No problems found in {}.", plural(self.events as u64, "log event"));
        } else {
            let _ = writeln!(
                out,
                "Summary: {}, {}, in {}.",
                plural(total.findings, "finding"),
                plural(total.occurrences, "occurrence"),
                plural(self.events as u64, "log event")
            );
        }
        if let Some((first, last)) = self.span {
            let _ = writeln!(
                out,
                "Time span: {} to {} ({}).",
                rfc3339_millis(first),
                rfc3339_millis(last),
                duration_text(last - first)
            );
        }
        if total.findings == 0 {
            return out;
        }

        let mut kinds: Vec<(Category, Severity, Tally)> =
            self.counts.by_kind.iter().map(|(&(category, severity), &tally)| (category, severity, tally)).collect();
        // Most urgent first, then the most frequent; the map's order (as `Category` lists them) breaks ties.
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.findings.cmp(&a.2.findings)));
        let _ = writeln!(out, "\nFindings by category and severity:");
        let rows: Vec<[String; 2]> =
            kinds.iter().map(|(c, s, _)| [c.as_str().to_owned(), s.as_str().to_owned()]).collect();
        table(&mut out, ["category", "severity"], &rows, kinds.iter().map(|k| k.2));

        let mut functions: Vec<(&String, Tally)> = self.counts.by_function.iter().map(|(f, &t)| (f, t)).collect();
        functions.sort_by(|a, b| b.1.findings.cmp(&a.1.findings).then(b.1.occurrences.cmp(&a.1.occurrences)));
        let _ = writeln!(out, "\nTop functions:");
        let shown = &functions[..functions.len().min(TOP_FUNCTIONS)];
        let rows: Vec<[String; 1]> = shown.iter().map(|(f, _)| [(*f).clone()]).collect();
        table(&mut out, ["function"], &rows, shown.iter().map(|f| f.1));
        if functions.len() > TOP_FUNCTIONS {
            let _ = writeln!(out, "  … and {} more function(s)", functions.len() - TOP_FUNCTIONS);
        }
        self.render_errors(&mut out);
        out
    }
}

/// `1 log event`, `3 log events`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A table of text columns followed by the findings and occurrences columns.
fn table<const N: usize>(
    out: &mut String,
    headers: [&str; N],
    rows: &[[String; N]],
    tallies: impl Iterator<Item = Tally>,
) {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|row| row[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let mut line = String::new();
    for (header, width) in headers.iter().zip(&widths) {
        let _ = write!(line, "  {header:<width$}");
    }
    let _ = writeln!(out, "{line}  findings  occurrences");
    for (row, tally) in rows.iter().zip(tallies) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "  {cell:<width$}");
        }
        let _ = writeln!(out, "{line}  {:>8}  {:>11}", tally.findings, tally.occurrences);
    }
}

/// A span of milliseconds for people: `850 ms`, `42 s`, `2 min 23 s`, `3 h 5 min`, `2 d 4 h`.
fn duration_text(ms: i64) -> String {
    let seconds = ms / 1000;
    match seconds {
        _ if ms < 1000 => format!("{ms} ms"),
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use lambda_troubleshooter::ingest::LogEvent;

    fn batch(function: &str, timestamps: &[i64]) -> LogBatch {
        LogBatch {
            owner: "123456789012".into(),
            log_group: format!("/aws/lambda/{function}"),
            log_stream: "s".into(),
            message_type: "DATA_MESSAGE".into(),
            policy_level: None,
            subscription_filters: vec![],
            log_events: timestamps
                .iter()
                .map(|&t| LogEvent { id: t.to_string().into(), timestamp: t, message: "x\n".into() })
                .collect(),
        }
    }

    fn finding(function: &str, category: Category, severity: Severity, count: u64) -> Finding {
        let mut value: serde_json::Value = serde_json::from_str(
            r#"{"schema":"lambda-troubleshooter/finding/v1","id":"i","rule_id":"r","category":"network","severity":"low",
            "title":"t","summary":"s","cause":"c","fix":[],"docs":[],"account":"1","region":"us-east-1",
            "log_group":"g","log_stream":"s","function":"f","count":1,"first_seen":"","last_seen":"",
            "request_ids":[],"event_ids":[],"evidence":[],"details":{},"console_url":""}"#,
        )
        .unwrap();
        value["function"] = function.into();
        value["category"] = category.as_str().into();
        value["severity"] = severity.as_str().into();
        value["count"] = count.into();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_table_counts_by_kind_and_function_over_the_time_covered() {
        let mut summary = Summary::default();
        summary.add(
            &batch("orders-api", &[1_709_572_958_033, 1_709_573_101_910]),
            &[
                finding("orders-api", Category::Timeout, Severity::High, 2),
                finding("orders-api", Category::OutOfMemory, Severity::Critical, 3),
            ],
        );
        summary.add(
            &batch("billing", &[1_709_572_000_000]),
            &[
                finding("billing", Category::Timeout, Severity::High, 1),
                finding("billing", Category::Throttling, Severity::Medium, 7),
            ],
        );
        let text = summary.render();
        assert!(text.starts_with("Summary: 4 findings, 13 occurrences, in 3 log events.\n"), "{text}");
        assert!(
            text.contains("Time span: 2024-03-04T17:06:40.000Z to 2024-03-04T17:25:01.910Z (18 min 21 s).\n"),
            "{text}"
        );
        let kinds = text.split("Findings by category and severity:\n").nth(1).unwrap();
        assert_eq!(
            kinds.lines().take(4).map(str::trim_end).collect::<Vec<_>>(),
            [
                "  category       severity  findings  occurrences",
                "  out_of_memory  critical         1            3",
                "  timeout        high             2            3",
                "  throttling     medium           1            7",
            ],
            "{text}"
        );
        let functions = text.split("Top functions:\n").nth(1).unwrap();
        assert_eq!(
            functions.lines().map(str::trim_end).collect::<Vec<_>>(),
            [
                "  function    findings  occurrences",
                "  billing            2            8",
                "  orders-api         2            5",
            ],
            "{text}"
        );
    }

    #[test]
    fn nothing_found_still_says_what_was_read() {
        let mut summary = Summary::default();
        summary.add(&batch("a", &[1_709_572_958_033]), &[]);
        assert_eq!(
            summary.render(),
            "No problems found in 1 log event.\nTime span: 2024-03-04T17:22:38.033Z to 2024-03-04T17:22:38.033Z (0 ms).\n"
        );
        assert_eq!(Summary::default().render(), "No problems found in 0 log events.\n");
    }

    #[test]
    fn many_functions_are_cut_to_the_top_ten() {
        let mut summary = Summary::default();
        for n in 0..12 {
            let name = format!("fn-{n:02}");
            let findings: Vec<Finding> =
                (0..=n).map(|_| finding(&name, Category::Network, Severity::High, 1)).collect();
            summary.add(&batch(&name, &[0]), &findings);
        }
        let text = summary.render();
        let functions = text.split("Top functions:\n").nth(1).unwrap();
        assert!(functions.lines().nth(1).unwrap().starts_with("  fn-11 "), "{text}");
        assert!(!functions.contains("fn-01") && !functions.contains("fn-00"), "{text}");
        assert!(functions.ends_with("  … and 2 more function(s)\n"), "{text}");
    }

    #[test]
    fn unhandled_errors_are_listed_by_fingerprint_across_batches() {
        let error = |fingerprint: &str, count: u64, first: &str, last: &str| {
            let mut f = finding("orders-api", Category::UnhandledError, Severity::High, count);
            f.rule_id = "unhandled-error".into();
            f.title = format!("TypeError: boom {fingerprint}");
            f.fingerprint = Some(fingerprint.into());
            f.fingerprint_version = Some(1);
            f.top_frame = Some("handler (index.js)".into());
            f.first_seen = first.into();
            f.last_seen = last.into();
            f.evidence = vec![lambda_troubleshooter::model::Evidence {
                timestamp: first.into(),
                message: "ERROR\tInvoke Error {\"errorType\":\"TypeError\"}\nsecond line".into(),
            }];
            f
        };
        let mut summary = Summary::default();
        summary.add(
            &batch("orders-api", &[1]),
            &[error("aaaa", 2, "2024-03-04T10:00:00.000Z", "2024-03-04T10:01:00.000Z")],
        );
        summary.add(
            &batch("orders-api", &[2]),
            &[
                error("aaaa", 3, "2024-03-04T11:00:00.000Z", "2024-03-04T11:05:00.000Z"),
                error("bbbb", 1, "2024-03-04T09:00:00.000Z", "2024-03-04T09:00:00.000Z"),
            ],
        );
        let text = summary.render();
        let list = text.split("Unhandled errors, grouped by fingerprint (2):\n").nth(1).unwrap();
        let lines: Vec<&str> = list.lines().map(str::trim_end).collect();
        assert_eq!(
            lines[1], "        5  2024-03-04T10:00:00.000Z  2024-03-04T11:05:00.000Z  orders-api  TypeError: boom aaaa",
            "{text}"
        );
        assert_eq!(lines[2], "           at handler (index.js) · fingerprint aaaa (v1)", "{text}");
        assert_eq!(
            lines[3],
            "           sample: 2024-03-04T10:00:00.000Z ERROR\tInvoke Error {\"errorType\":\"TypeError\"}"
        );
        assert!(lines[4].ends_with("TypeError: boom bbbb"), "{text}");
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(duration_text(850), "850 ms");
        assert_eq!(duration_text(42_000), "42 s");
        assert_eq!(duration_text(143_877), "2 min 23 s");
        assert_eq!(duration_text(11_100_000), "3 h 5 min");
        assert_eq!(duration_text(187_200_000), "2 d 4 h");
    }
}
