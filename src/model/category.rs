//! How urgent a finding is and what kind of problem it is: the two enums every stage and
//! every rendering shares (docs/finding.md, `severity` and `category`).

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// The fixed category vocabulary: rules are many, categories are few.
/// Ordered as the README and docs/finding.md list them (metrics and summaries sort by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    UnhandledError,
}

impl Category {
    /// Every category, in the order above.
    pub const ALL: [Category; 18] = [
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
        Self::UnhandledError,
    ];

    /// What the category means, in one line (RULES.md's table of categories shows it).
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
            Self::UnhandledError => {
                "a failed invocation or a logged exception that no rule explains, grouped by fingerprint"
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
            Self::UnhandledError => "unhandled_error",
        }
    }

    /// True for failures that end the invocation (or init attempt) they happen in: it can
    /// happen once per invocation, so its occurrences are the invocations that showed it, however
    /// many lines each printed (an error line and its REPORT). Other problems occur once per log
    /// event: a function retrying a throttled call 2,000 times throttled 2,000 times.
    pub fn ends_the_invocation(self) -> bool {
        matches!(
            self,
            Self::OutOfMemory
                | Self::MemoryPressure
                | Self::Timeout
                | Self::InitTimeout
                | Self::RuntimeStartup
                | Self::RuntimeCrash
        )
    }

    /// The category named `text` (`out_of_memory`), if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text.trim())
    }

    /// Words for people: `out_of_memory` becomes "out of memory".
    pub fn words(self) -> String {
        self.as_str().replace('_', " ")
    }
}
