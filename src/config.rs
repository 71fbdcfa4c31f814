//! Configuration: the function's environment, read and validated once, at init.
//!
//! A bad value stops the function at init with a [`ConfigError`] that names the variable and
//! the values it accepts, rather than failing on the first batch (docs/configuration.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::ingest::DEFAULT_MAX_DECOMPRESSED_BYTES;
use crate::model::{Category, Severity};
use crate::rules::RuleError;

/// SNS topic for findings; unset means findings go to stdout as JSON lines.
pub const TOPIC_ARN: &str = "TOPIC_ARN";
/// Findings below this severity are dropped.
pub const MIN_SEVERITY: &str = "MIN_SEVERITY";
/// Comma-separated rule ids to switch off.
pub const DISABLED_RULES: &str = "DISABLED_RULES";
/// Path of a TOML rule file added to the built-in catalog.
pub const EXTRA_RULES_FILE: &str = "EXTRA_RULES_FILE";
/// A batch that inflates past this many bytes is refused.
pub const MAX_DECOMPRESSED_BYTES: &str = "MAX_DECOMPRESSED_BYTES";
/// Seconds during which a repeat of a finding (same rule, log group and key) is held back and
/// counted instead of published again; `0` switches suppression off.
pub const SUPPRESS_SECONDS: &str = "SUPPRESS_SECONDS";
/// Per-category windows that replace SUPPRESS_SECONDS for their category:
/// `out_of_memory=21600,timeout=600`.
pub const SUPPRESS_CATEGORY_SECONDS: &str = "SUPPRESS_CATEGORY_SECONDS";
/// `on` or `off`: fetch the lines a high or critical finding lacks (its REPORT, the lines
/// before the failure) from CloudWatch Logs.
pub const ENRICH_CONTEXT: &str = "ENRICH_CONTEXT";
/// The DynamoDB table that holds suppression and mutes for every instance; unset keeps
/// suppression in the memory of each instance (local runs, `cargo lambda watch`).
pub const SUPPRESS_TABLE: &str = "SUPPRESS_TABLE";
/// `true` adds the analysed function as a dimension of the findings metrics (a billed custom
/// metric per function); `false` (the default) leaves it out.
pub const METRICS_PER_FUNCTION: &str = "METRICS_PER_FUNCTION";
/// An unhandled error whose fingerprint was not seen for this long is published as a new error
/// type; a known one is held back for as long (`48h`, `30m`, `2d`, or seconds).
pub const NEW_ERROR_WINDOW: &str = "NEW_ERROR_WINDOW";
/// `on`/`off`: report exceptions logged at ERROR in invocations that did not fail.
pub const LOGGED_ERRORS: &str = "LOGGED_ERRORS";
/// Set by Lambda: the function's own name, the `Troubleshooter` dimension of its metrics.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// Set by Lambda: the function's own log group, which is never analysed (that would loop).
pub const AWS_LAMBDA_LOG_GROUP_NAME: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
/// Set by Lambda: the region the function runs in.
pub const AWS_REGION: &str = "AWS_REGION";
/// Set by Lambda: the function's memory in MB, from which the default decompression cap is
/// derived ([`decompression_cap_for`]).
pub const AWS_LAMBDA_FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// The region used when none is set (local runs).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The default SUPPRESS_SECONDS: five minutes, so a function failing on every invocation sends
/// one message per problem every five minutes, with the count of what was held back.
pub const DEFAULT_SUPPRESS_SECONDS: u64 = 300;
/// The largest accepted window (a week): longer would mean "never again", not flood control;
/// a mute (`troubleshooter mute`) is the tool for that.
const MAX_SUPPRESS_SECONDS: u64 = 7 * 86_400;

/// The windows users expect to be longer than five minutes, unless SUPPRESS_CATEGORY_SECONDS
/// says otherwise: a function that runs out of memory or cannot start keeps doing so on every
/// invocation until someone deploys a fix, and one message every few hours says all there is
/// to say (the Serverless Framework dashboard alerts on out of memory at most once per 48
/// hours); a warning such as memory pressure, once a day.
pub const DEFAULT_CATEGORY_SECONDS: &[(Category, u64)] = &[
    (Category::OutOfMemory, 6 * 3_600),
    (Category::MemoryPressure, 24 * 3_600),
    (Category::RuntimeStartup, 3_600),
    (Category::InitTimeout, 3_600),
    (Category::UnhandledError, DEFAULT_NEW_ERROR_WINDOW_SECONDS),
];

/// The default NEW_ERROR_WINDOW: 48 hours, as the Serverless Framework dashboard's "new error
/// type" alert counts (an error not seen in the previous 48 hours).
pub const DEFAULT_NEW_ERROR_WINDOW_SECONDS: u64 = 48 * 3_600;
/// The longest accepted NEW_ERROR_WINDOW: 30 days.
const MAX_NEW_ERROR_WINDOW_SECONDS: u64 = 30 * 86_400;

/// The smallest accepted MAX_DECOMPRESSED_BYTES: one CloudWatch Logs event can be 256 KiB.
const MIN_DECOMPRESSED_BYTES: usize = 256 * 1024;

/// The default decompression cap of a function with `memory_mb` of memory: a quarter of it.
///
/// Peak memory grows by about 2.3 times the inflated size over the ~14 MiB the process holds
/// after init (the inflated document, the events decoded from it, the findings). Measured by
/// `make rss-cap` on a 128 MB function: a batch of 30 MiB inflated peaks at 84 MiB, and one of
/// 33 MiB, just above the 32 MiB cap, is refused (`Troubleshooter.BatchTooLarge`, kept by the
/// on-failure destination) at 50 MiB instead of killing the function. Real batches (at most
/// 1 MB of gzip) inflate to a few MiB.
pub fn decompression_cap_for(memory_mb: u64) -> usize {
    usize::try_from(memory_mb.saturating_mul(1024 * 1024) / 4).unwrap_or(usize::MAX).max(MIN_DECOMPRESSED_BYTES)
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value outside what it accepts.
    #[error("{variable}={value:?} is not valid: expected {accepted}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// The value it had.
        value: String,
        /// What it accepts.
        accepted: String,
    },
    /// EXTRA_RULES_FILE could not be read.
    #[error("EXTRA_RULES_FILE={path:?} cannot be read: {source}")]
    ReadRules {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A rule, built-in or from EXTRA_RULES_FILE, or a DISABLED_RULES id, is invalid.
    #[error("invalid rule configuration: {0}")]
    Rules(#[from] RuleError),
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// SNS topic for findings; `None` writes them to stdout as JSON lines.
    pub topic_arn: Option<String>,
    /// Findings below this severity are dropped. Default: `low` (keep all).
    pub min_severity: Severity,
    /// Rule ids switched off. Default: none.
    pub disabled_rules: Vec<String>,
    /// An extra TOML rule file. Default: none.
    pub extra_rules_file: Option<PathBuf>,
    /// Refuse batches that inflate past this. Default: 64 MiB.
    pub max_decompressed_bytes: usize,
    /// Repeats of a finding within this many seconds are held back and counted; `0` publishes
    /// every finding (and switches the per-category windows off too). Default: 300.
    pub suppress_seconds: u64,
    /// The windows of categories that differ from `suppress_seconds`. Default:
    /// [`DEFAULT_CATEGORY_SECONDS`], overridden per category by SUPPRESS_CATEGORY_SECONDS.
    pub suppress_category_seconds: BTreeMap<Category, u64>,
    /// The DynamoDB table shared by every instance for suppression and mutes; `None` keeps
    /// suppression per instance, in memory.
    pub suppress_table: Option<String>,
    /// Fetch a failed request's missing lines from CloudWatch Logs. Default: off (the template
    /// turns it on; a local run has no logs to read).
    pub enrich_context: bool,
    /// The function's own log group, never analysed. Set by Lambda.
    pub own_log_group: Option<String>,
    /// Whether the findings metrics carry the analysed function as a dimension. Default: false.
    pub metrics_per_function: bool,
    /// The function's own name, which labels its metrics. Set by Lambda.
    pub own_function_name: Option<String>,
    /// The region for links and ARNs. Default: `us-east-1`.
    pub region: String,
    /// NEW_ERROR_WINDOW in seconds: the window of the `unhandled_error` category.
    pub new_error_window_seconds: u64,
    /// LOGGED_ERRORS: report exceptions logged at ERROR in invocations that did not fail.
    pub logged_errors: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            topic_arn: None,
            min_severity: Severity::Low,
            disabled_rules: Vec::new(),
            extra_rules_file: None,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            suppress_seconds: DEFAULT_SUPPRESS_SECONDS,
            suppress_category_seconds: DEFAULT_CATEGORY_SECONDS.iter().copied().collect(),
            suppress_table: None,
            enrich_context: false,
            own_log_group: None,
            metrics_per_function: false,
            own_function_name: None,
            region: DEFAULT_REGION.to_owned(),
            new_error_window_seconds: DEFAULT_NEW_ERROR_WINDOW_SECONDS,
            logged_errors: true,
        }
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad variable and what it accepts.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let defaults = Self::default();
        let topic_arn = topic_arn(get(TOPIC_ARN))?;
        let min_severity = match get(MIN_SEVERITY) {
            Some(text) => Severity::parse(&text).ok_or_else(|| ConfigError::Invalid {
                variable: MIN_SEVERITY,
                value: text,
                accepted: "one of low, medium, high, critical".into(),
            })?,
            None => defaults.min_severity,
        };
        let disabled_rules = get(DISABLED_RULES)
            .map(|text| text.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let max_decompressed_bytes = decompression_cap(&get, defaults.max_decompressed_bytes)?;
        let (suppress_seconds, mut suppress_category_seconds) = suppress_windows(&get, &defaults)?;
        let suppress_table = suppress_table(get(SUPPRESS_TABLE))?;
        let metrics_per_function = switch(
            METRICS_PER_FUNCTION,
            get(METRICS_PER_FUNCTION),
            defaults.metrics_per_function,
            "true or false (default false)",
        )?;
        let enrich_context = switch(ENRICH_CONTEXT, get(ENRICH_CONTEXT), defaults.enrich_context, "on or off")?;
        let (new_error_window_seconds, logged_errors) = unhandled_errors(&get)?;
        // NEW_ERROR_WINDOW is the unhandled errors' window: a known fingerprint is held back
        // (and counted) for as long as it would not be new.
        suppress_category_seconds.insert(Category::UnhandledError, new_error_window_seconds);
        Ok(Self {
            topic_arn,
            min_severity,
            disabled_rules,
            extra_rules_file: get(EXTRA_RULES_FILE).map(PathBuf::from),
            max_decompressed_bytes,
            suppress_seconds,
            suppress_category_seconds,
            suppress_table,
            enrich_context,
            own_log_group: get(AWS_LAMBDA_LOG_GROUP_NAME),
            metrics_per_function,
            own_function_name: get(AWS_LAMBDA_FUNCTION_NAME),
            region: get(AWS_REGION).unwrap_or(defaults.region),
            new_error_window_seconds,
            logged_errors,
        })
    }

    /// Reads EXTRA_RULES_FILE, if set, as `(file name, contents)`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ReadRules`] when the file cannot be read.
    pub fn extra_rule_files(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let Some(path) = &self.extra_rules_file else { return Ok(Vec::new()) };
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadRules { path: path.clone(), source })?;
        Ok(vec![(path.display().to_string(), text)])
    }
}

/// TOPIC_ARN: an SNS topic ARN, or none (findings go to stdout).
fn topic_arn(value: Option<String>) -> Result<Option<String>, ConfigError> {
    Ok(match value {
        Some(arn) if arn.starts_with("arn:") && arn.split(':').count() == 6 && arn.contains(":sns:") => Some(arn),
        Some(arn) => {
            return Err(ConfigError::Invalid {
                variable: TOPIC_ARN,
                value: arn,
                accepted: "an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME".into(),
            });
        }
        None => None,
    })
}

/// MAX_DECOMPRESSED_BYTES, else a quarter of the function's memory, else `default`.
fn decompression_cap(get: &impl Fn(&str) -> Option<String>, default: usize) -> Result<usize, ConfigError> {
    Ok(match get(MAX_DECOMPRESSED_BYTES) {
        Some(text) => text.parse::<usize>().ok().filter(|n| *n >= MIN_DECOMPRESSED_BYTES).ok_or_else(|| {
            ConfigError::Invalid {
                variable: MAX_DECOMPRESSED_BYTES,
                value: text,
                accepted: format!(
                    "a whole number of bytes, at least {MIN_DECOMPRESSED_BYTES} (default: a quarter of the function's memory)"
                ),
            }
        })?,
        None => get(AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
            .and_then(|mb| mb.parse::<u64>().ok())
            .map_or(default, decompression_cap_for),
    })
}

/// SUPPRESS_SECONDS and SUPPRESS_CATEGORY_SECONDS: the default window and the windows by
/// category (the defaults' own, replaced by what the variable names).
fn suppress_windows(
    get: &impl Fn(&str) -> Option<String>,
    defaults: &Config,
) -> Result<(u64, BTreeMap<Category, u64>), ConfigError> {
    let suppress_seconds = match get(SUPPRESS_SECONDS) {
        Some(text) => text.parse::<u64>().ok().filter(|n| *n <= MAX_SUPPRESS_SECONDS).ok_or_else(|| {
            ConfigError::Invalid {
                variable: SUPPRESS_SECONDS,
                value: text,
                accepted: format!(
                    "a whole number of seconds from 0 (no suppression) to {MAX_SUPPRESS_SECONDS} (default {DEFAULT_SUPPRESS_SECONDS})"
                ),
            }
        })?,
        None => defaults.suppress_seconds,
    };
    let mut suppress_category_seconds = defaults.suppress_category_seconds.clone();
    if let Some(text) = get(SUPPRESS_CATEGORY_SECONDS) {
        suppress_category_seconds.extend(parse_category_seconds(&text).ok_or_else(|| ConfigError::Invalid {
            variable: SUPPRESS_CATEGORY_SECONDS,
            value: text.clone(),
            accepted: format!(
                "comma-separated CATEGORY=SECONDS pairs, e.g. out_of_memory=21600,timeout=600, with a category of {} and from 0 to {MAX_SUPPRESS_SECONDS} seconds",
                Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })?);
    }
    Ok((suppress_seconds, suppress_category_seconds))
}

/// SUPPRESS_TABLE: a DynamoDB table name, or none (flood control per instance).
fn suppress_table(value: Option<String>) -> Result<Option<String>, ConfigError> {
    Ok(match value {
        Some(name) if is_table_name(&name) => Some(name),
        Some(name) => {
            return Err(ConfigError::Invalid {
                variable: SUPPRESS_TABLE,
                value: name,
                accepted: "a DynamoDB table name: 3 to 255 letters, digits, '_', '-' and '.'".into(),
            });
        }
        None => None,
    })
}

/// NEW_ERROR_WINDOW (seconds) and LOGGED_ERRORS.
fn unhandled_errors(get: &impl Fn(&str) -> Option<String>) -> Result<(u64, bool), ConfigError> {
    let window = match get(NEW_ERROR_WINDOW) {
        Some(text) => {
            parse_window(&text).filter(|s| (1..=MAX_NEW_ERROR_WINDOW_SECONDS).contains(s)).ok_or_else(|| {
                ConfigError::Invalid {
                    variable: NEW_ERROR_WINDOW,
                    value: text,
                    accepted: "a duration from 1s to 30d: 48h, 90m, 2d, or a whole number of seconds (default 48h)"
                        .into(),
                }
            })?
        }
        None => DEFAULT_NEW_ERROR_WINDOW_SECONDS,
    };
    let logged = switch(LOGGED_ERRORS, get(LOGGED_ERRORS), true, "on or off (default on)")?;
    Ok((window, logged))
}

/// `48h`, `90m`, `2d`, `1h30m` or plain seconds.
fn parse_window(text: &str) -> Option<u64> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    humantime::parse_duration(text).ok().map(|d| d.as_secs())
}

/// `out_of_memory=21600, timeout=600` as pairs; `None` when any pair is malformed.
fn parse_category_seconds(text: &str) -> Option<Vec<(Category, u64)>> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (category, seconds) = pair.split_once('=')?;
            let category = Category::parse(category.trim())?;
            let seconds = seconds.trim().parse::<u64>().ok().filter(|n| *n <= MAX_SUPPRESS_SECONDS)?;
            Some((category, seconds))
        })
        .collect()
}

/// An on/off variable: `true`/`on` or `false`/`off`, any case; unset gives `default`.
fn switch(variable: &'static str, text: Option<String>, default: bool, accepted: &str) -> Result<bool, ConfigError> {
    match text.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "on") => Ok(true),
        Some("false" | "off") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { variable, value: text.unwrap_or_default(), accepted: accepted.into() }),
    }
}

/// DynamoDB's rule for table names.
fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests;
