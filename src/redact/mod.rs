//! Redaction: secrets are scrubbed from every excerpt before it leaves the function.
//!
//! Log lines quoted as evidence can hold the very credentials a failure was about. Every
//! evidence line and every text detail of a finding passes through [`Redactor::redact`]:
//! AWS access key ids, secret access keys (labelled, or printed beside their key id) and
//! session tokens; GitHub, GitLab, Slack, Stripe and Google keys and Slack webhooks; private key
//! blocks; passwords in URLs and connection strings, also URL-encoded and without a scheme
//! (`admin:pw@db:5432`); passwords on command lines (`--password x`, `-pX`, `sshpass -p x`);
//! `password=`/`token=`-style pairs in env dumps, query strings (also `?pass=`), URL-encoded
//! bodies and YAML; JSON values of secret-looking keys, also escaped once or twice inside a JSON
//! string or with the key written in `\u` escapes; Authorization headers, cookies and JWTs.
//! `tests/redaction/corpus.toml` measures it: every form with its source,
//! and a non-secret twin that must survive unchanged. The patterns live in
//! `redact/patterns.rs` as a table, the checks that spare a near miss in `redact/guard.rs`;
//! they are compiled once, on the first redaction (only a batch with findings needs them, so
//! init does not pay for them).

mod guard;
mod patterns;

use std::sync::OnceLock;

use regex::{Captures, Match, Regex};

use patterns::{PATTERNS, Rewrite};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Scrubs secrets from text. It holds nothing: the patterns are compiled once per process, on
/// the first redaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redactor;

/// The patterns of [`PATTERNS`], compiled once per process, on the first redaction (or
/// [`Redactor::prepare`]): redaction runs only when there are findings, so init does not pay
/// for these.
static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();

/// One pattern of [`PATTERNS`], compiled.
#[derive(Debug, Clone)]
struct Compiled {
    regex: Regex,
    /// The indices of the groups named `keep…`: what of a match survives.
    keep: Vec<usize>,
    rewrite: Rewrite,
}

impl Redactor {
    /// Compiles the patterns now rather than on the first redaction (about 35 M instructions,
    /// half of the anchor pass over a full batch): the command line does it on a thread of its
    /// own while it compiles the catalog and reads its input.
    pub fn prepare() {
        COMPILED.get_or_init(compile_patterns);
    }

    /// Returns `text` with every secret it recognises replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        // Request ids, trace ids and hashes are redacted once per finding each: no pattern can
        // match hex digits and dashes alone (every secret form has a name, a prefix beyond
        // a–f or a separator), so they skip the patterns.
        if text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for pattern in COMPILED.get_or_init(compile_patterns) {
            if pattern.regex.is_match(&out) {
                out = pattern.regex.replace_all(&out, |caps: &Captures<'_>| pattern.rewrite(caps)).into_owned();
            }
        }
        out
    }
}

impl Compiled {
    /// The replacement of one match: its `keep…` groups, `[REDACTED]` for every stretch between
    /// them, or the match itself when the pattern's guard spares it.
    fn rewrite(&self, caps: &Captures<'_>) -> String {
        let group = |name: &str| caps.name(name).map_or("", |m| m.as_str());
        let whole = caps.get(0).map_or("", |m| m.as_str());
        let guard = match self.rewrite {
            Rewrite::CookiePairs => {
                return format!("{}{}", group("name"), patterns::redact_cookies(group("value"), REDACTED));
            }
            Rewrite::Keep(guard) => guard,
        };
        if guard::spared(guard, group) {
            return whole.to_owned();
        }
        let Some(all) = caps.get(0) else { return whole.to_owned() };
        let mut kept: Vec<Match<'_>> = self.keep.iter().filter_map(|&i| caps.get(i)).collect();
        kept.sort_by_key(Match::start);
        let mut out = String::with_capacity(whole.len());
        let mut at = all.start();
        for m in kept {
            if m.start() > at {
                out.push_str(REDACTED);
            }
            out.push_str(m.as_str());
            at = at.max(m.end());
        }
        if all.end() > at {
            out.push_str(REDACTED);
        }
        out
    }
}

/// The redaction patterns of [`PATTERNS`], compiled; see [`Redactor`].
///
/// # Panics
///
/// Never: the patterns are constants, exercised by the tests below and the redaction corpus.
#[allow(clippy::panic)]
fn compile_patterns() -> Vec<Compiled> {
    PATTERNS
        .iter()
        .map(|&(what, pattern, rewrite)| {
            let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("redaction pattern for {what}: {e}"));
            let keep = regex
                .capture_names()
                .enumerate()
                .filter_map(|(i, name)| name.filter(|n| n.starts_with("keep")).map(|_| i))
                .collect();
            Compiled { regex, keep, rewrite }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor.redact(text)
    }

    /// The shortcut for hex digits and dashes gives what the patterns give.
    #[test]
    fn ids_and_hashes_skip_the_patterns_without_changing_the_result() {
        let patterns = compile_patterns();
        for id in [
            "6234bffe-149a-b642-81ff-2e8e376d8aff",
            "1-5759e988-bd862e3fe1be46a994272793",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "AKIA",
            "",
        ] {
            let mut slow = id.to_owned();
            for pattern in &patterns {
                slow = pattern.regex.replace_all(&slow, |caps: &Captures<'_>| pattern.rewrite(caps)).into_owned();
            }
            assert_eq!(redact(id), slow, "{id}");
            assert_eq!(redact(id), id);
        }
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

    /// The unlabelled secret beside a key id goes too (once only the key id was redacted).
    #[test]
    fn an_aws_secret_beside_its_key_id_is_removed() {
        let out = redact("creds AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(out, "creds [REDACTED] / [REDACTED]");
        // A commit hash beside a key id is not a secret key.
        let out = redact("AKIAIOSFODNN7EXAMPLE deployed 3f786850e387550fdab836ed7e6dc881de23001b");
        assert_eq!(out, "[REDACTED] deployed 3f786850e387550fdab836ed7e6dc881de23001b");
    }

    #[test]
    fn known_non_secrets_beside_secret_names_survive() {
        for line in [
            "ExpiredToken: The security token included in the request is expired",
            "PWD=/var/task",
            "config: apiKey=undefined region=us-east-1",
            "Access denied for user 'app'@'10.0.3.17' (using password: YES)",
            "GET /v1/orders?nextToken=eyJvZmZzZXQiOjUwfQ%3D%3D 200",
            "Basic authentication failed for user 'deploy'",
        ] {
            assert_eq!(redact(line), line);
        }
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
    /// The encoded and hostile forms of `tests/redaction/corpus.toml`, each beside
    /// the near misses a corpus case has no room for.
    #[test]
    fn command_line_passwords_are_removed_where_the_option_is_a_password() {
        for (line, expected) in [
            ("+ mongodump --username backup --password FAKEpw-1 --out /tmp", "--password [REDACTED] --out"),
            ("mongodump --password=FAKEpw-1 --out /tmp", "--password=[REDACTED] --out"),
            (
                "keytool -importkeystore -srcstorepass FAKEpw-1 -deststorepass FAKEpw-2",
                "-srcstorepass [REDACTED] -deststorepass [REDACTED]",
            ),
            ("+ sshpass -p FAKEpw-1 ssh deploy@bastion", "-p [REDACTED] ssh"),
            ("+ mysql -h db -u root -pFAKEpw-1 orders", "-p[REDACTED] orders"),
            (r#"{"cmd":["mongosh","--password","FAKEpw-1"]}"#, r#""--password","[REDACTED]"]"#),
        ] {
            let out = redact(line);
            assert!(out.contains(expected) && !out.contains("FAKEpw"), "{line}\n  became {out}");
        }
        for line in [
            "+ restic --password-file /run/secrets/db backup /tmp",
            "+ psql --no-password -h orders-db",
            "+ mysql -u root -p orders",
            "+ mysql -u root -p -h orders-db",
            "+ ssh -p 2222 deploy@bastion.example.com",
            "+ docker login -u AWS -p $ECR_TOKEN 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "aws logs filter-log-events --log-group-name x --next-token FAKEpage-1 --starting-token FAKEpage-2",
            "+ curl --compressed --bypass-proxy https://example.com",
        ] {
            assert_eq!(redact(line), line);
        }
    }

    #[test]
    fn encoded_and_escaped_secrets_are_removed_and_their_near_misses_survive() {
        for (line, expected) in [
            ("body=username%3Djane%26password%3DFAKE%2521pw%26scope%3Dx", "password%3D[REDACTED]%26scope%3Dx"),
            ("dsn=postgres%3A%2F%2Fapp%3AFAKEpw%40db%3A5432%2Forders", "postgres%3A%2F%2Fapp%3A[REDACTED]%40db%3A5432"),
            ("GET /login?pass=FAKEpw-1&user=jane", "?pass=[REDACTED]&user=jane"),
            (r#"{"m":"{\"b\":\"{\\\"password\\\":\\\"FAKEpw-1\\\"}\"}"}"#, r#"\\\"password\\\":\\\"[REDACTED]\\\""#),
            (r#"{"pass\u0077ord": "FAKEpw-1"}"#, r#"{"pass\u0077ord": "[REDACTED]"}"#),
            (r#"{"\u0070assword":"FAKEpw-1"}"#, r#"{"\u0070assword":"[REDACTED]"}"#),
            ("connecting to admin:FAKEpw-1@db.example.com:5432/orders", "admin:[REDACTED]@db.example.com:5432/orders"),
        ] {
            let out = redact(line);
            assert!(out.contains(expected) && !out.contains("FAKEpw"), "{line}\n  became {out}");
        }
        for line in [
            "q=nextToken%3DeyJvZmZzZXQiOjUwfQ%26limit%3D50",
            "next=https%3A%2F%2Fexample.com%3A8443%2Fpath%40v2",
            "GET /ci/report?passes=3&pass_rate=0.98",
            r#"{"nextTok\u0065n": "eyJvZmZzZXQiOjUwfQ"}"#,
            r#"{"us\u0065r": "jane"}"#,
            "the key pass\\u0077ord decodes to password",
            "deploy@bastion.example.com and jane.doe@example.com",
            "job ran at 10:30@worker-3",
            "notify mailto:jane.doe@example.com failed",
            "pulled nginx:1.25@sha256:e4f0474a75c510f40b37b6b7dc2516241ffa8bde5a442bde3d372c9519c84d90",
            "git@github.com:acme/orders.git",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
