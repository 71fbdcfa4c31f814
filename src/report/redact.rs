//! Redaction: secrets are scrubbed from every excerpt before it leaves the function.
//!
//! Log lines quoted as evidence can hold the very credentials a failure was about. Every
//! evidence line and every text detail of a finding passes through [`Redactor::redact`]:
//! AWS access key ids (`AKIA…`, `ASIA…`), secret access keys and session tokens next to their
//! names, passwords in URLs and connection strings, `password=`/`secret=`/`token=`-style pairs,
//! JSON string values of secret-looking keys (`SecretString`, `password`, …), bearer tokens
//! and JWTs. Patterns are compiled once, on the first redaction (only a batch with findings
//! needs them, so init does not pay for them).

use std::sync::OnceLock;

use regex::Regex;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Scrubs secrets from text; build once and reuse.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// `(pattern, replacement)`; replacements keep the name (`$name`) and drop the value.
    /// Compiled once, on the first redaction: redaction runs only when there are findings,
    /// so init does not pay for these (Unicode word boundaries are costly to compile).
    patterns: OnceLock<Vec<(Regex, &'static str)>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

/// Names whose values are secrets, as a regex alternation (case-insensitive).
const SECRET_NAMES: &str = r"password|passwd|pwd|passphrase|secret|secret_?string|secret_?access_?key|aws_secret_access_key|session_?token|aws_session_token|access_?token|refresh_?token|id_?token|client_?secret|api_?key|apikey|x-api-key|auth_?token|private_?key|token";

impl Redactor {
    /// A redactor; its patterns are compiled on the first redaction.
    pub fn new() -> Self {
        Self { patterns: OnceLock::new() }
    }

    /// Returns `text` with every secret it recognises replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (pattern, replacement) in self.patterns.get_or_init(compile_patterns) {
            if pattern.is_match(&out) {
                out = pattern.replace_all(&out, *replacement).into_owned();
            }
        }
        out
    }
}

/// The redaction patterns; see [`Redactor`].
///
/// # Panics
///
/// Never: the patterns are constants, exercised by the tests below.
#[allow(clippy::expect_used)]
fn compile_patterns() -> Vec<(Regex, &'static str)> {
    let compile = |pattern: &str| Regex::new(pattern).expect("constant redaction pattern");
    vec![
        // AWS access key ids: long-term (AKIA) and temporary (ASIA).
        (compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
        // JSON or Python-dict values of secret-looking keys: "password": "…", 'SecretString': '…'.
        (
            compile(&format!(r#"(?i)(?P<name>["'](?:{SECRET_NAMES})["']\s*:\s*)"(?:[^"\\]|\\.)*""#)),
            "${name}\"[REDACTED]\"",
        ),
        (
            compile(&format!(r#"(?i)(?P<name>["'](?:{SECRET_NAMES})["']\s*:\s*)'(?:[^'\\]|\\.)*'"#)),
            "${name}'[REDACTED]'",
        ),
        // Credentials in URLs: scheme://user:password@host.
        (compile(r"(?i)(?P<name>\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), "${name}[REDACTED]@"),
        // Bearer and Basic authorization values.
        (compile(r"(?i)(?P<name>\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*"), "${name}[REDACTED]"),
        // JWTs anywhere.
        (compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
        // name=value and name: value pairs, as in connection strings and env dumps.
        (
            compile(&format!(r#"(?i)(?P<name>\b[A-Za-z0-9_-]*?(?:{SECRET_NAMES})\b(?:\s*=\s*|\s*:\s+))[^\s;,&"'<>]+"#)),
            "${name}[REDACTED]",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new().redact(text)
    }

    #[test]
    fn aws_keys_are_removed() {
        let out =
            redact("using AKIAIOSFODNN7EXAMPLE and aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!out.contains("AKIAIOSFODNN7EXAMPLE"), "{out}");
        assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        assert!(out.contains("aws_secret_access_key=[REDACTED]"), "{out}");
        let out = redact(
            r#"{"AccessKeyId":"ASIAY34FZKBOKMUTVV7A","SecretAccessKey":"abc/def+ghi","SessionToken":"IQoJb3JpZ2luX2VjEJ"}"#,
        );
        assert!(
            !out.contains("ASIAY34FZKBOKMUTVV7A") && !out.contains("abc/def+ghi") && !out.contains("IQoJb3"),
            "{out}"
        );
    }

    #[test]
    fn passwords_in_urls_and_connection_strings_are_removed() {
        let out = redact("could not connect to postgresql://app:s3cr3t-P4ss@db.internal:5432/orders");
        assert_eq!(out, "could not connect to postgresql://app:[REDACTED]@db.internal:5432/orders");
        let out = redact("Server=db;Database=orders;User Id=app;Password=hunter2;Encrypt=true");
        assert!(out.contains("Password=[REDACTED];") && !out.contains("hunter2"), "{out}");
        let out = redact("DB_PASSWORD: hunter2 and api_key = abc123");
        assert!(!out.contains("hunter2") && !out.contains("abc123"), "{out}");
    }

    #[test]
    fn secret_string_bearer_and_jwt_are_removed() {
        let out = redact(r#"{'Name': 'db', 'SecretString': '{"username":"a","password":"p@ss"}', 'VersionId': '1'}"#);
        assert!(!out.contains("p@ss"), "{out}");
        assert!(out.contains("'VersionId': '1'"), "{out}");
        let out = redact("Authorization: Bearer abcdef0123456789.xyz");
        assert!(!out.contains("abcdef0123456789"), "{out}");
        let out = redact(
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U expired",
        );
        assert!(!out.contains("eyJhbGci"), "{out}");
    }

    #[test]
    fn ordinary_diagnostics_survive() {
        for line in [
            "An error occurred (ExpiredTokenException) when calling the GetSecretValue operation: The security token included in the request is expired",
            "User: arn:aws:sts::123456789012:assumed-role/app/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: db-creds",
            "on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            "REPORT RequestId: 1c2d\tDuration: 812.40 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
