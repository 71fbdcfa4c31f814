//! The redaction patterns as a table: what each secret form looks like and what of a match is
//! kept. Kept apart from [`super::Redactor`] so the forms can be read (and extended) as one
//! list; `tests/redaction/corpus.toml` measures them (issue 13).
//!
//! Every part of a match outside the groups named `keep…` is the secret and becomes
//! `[REDACTED]`: `(?P<keep_name>password=)hunter2` gives `password=[REDACTED]`. A [`Guard`]
//! leaves a match alone when it is a known non-secret (`PWD=/var/task`, `apiKey=undefined`,
//! `ExpiredToken: The security token…`).

/// Names whose values are secrets, as a regex alternation (matched case-insensitively, after
/// any prefix: `DB_PASSWORD`, `X-Amz-Security-Token`, `spring.datasource.password`).
macro_rules! secret_names {
    () => {
        r"password|passwd|pswd|pwd|passphrase|secret|secret[_-]?string|secret[_-]?key|access[_-]?key|session[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|client[_-]?secret|api[_-]?key|private[_-]?key|x-amz-signature|token"
    };
}

/// AWS access key ids: long-term (AKIA), temporary (ASIA) and the rarer prefixes gitleaks'
/// `aws-access-token` lists.
macro_rules! aws_key_id {
    () => {
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"
    };
}

/// What is left alone although it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// Every match is redacted.
    None,
    /// Key/value pairs: not error names (`ExpiredToken: The …`), pagination tokens, `PWD` as a
    /// directory, nor placeholder values (`null`, `undefined`, `YES`, `***`).
    NameValue,
    /// JSON members: not pagination tokens nor `PWD`.
    JsonName,
    /// `Basic`/`Bearer` followed by a word (`Basic authentication failed`).
    NotAWord,
    /// A 40-character candidate beside a key id that is a lowercase hex digest (a commit).
    NotHex,
}

/// How a match is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rewrite {
    /// Everything outside the `keep…` groups becomes `[REDACTED]`, unless the guard objects.
    Keep(Guard),
    /// A `Cookie:`/`Set-Cookie:` value: every `name=value` pair keeps its name, attributes
    /// (`Path`, `SameSite`, …) are kept whole.
    CookiePairs,
}

/// `(what it finds, regex, rewrite)`, applied in this order: multi-line blocks first, then
/// forms recognised by their own shape, then names with values, then what is left.
pub(super) const PATTERNS: &[(&str, &str, Rewrite)] = &[
    (
        "private key blocks, multi-line or `\\n`-escaped, to the end of the text when cut",
        r"(?s)(?P<keep_begin>-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)(?:.*?(?P<keep_end>-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)|.*)",
        Rewrite::Keep(Guard::None),
    ),
    (
        "an AWS secret access key printed after its key id, labelled or not",
        concat!(
            "(?P<id>",
            aws_key_id!(),
            r")(?P<keep_gap>[^\n]{0,60}?[^A-Za-z0-9+\n])(?P<secret>[A-Za-z0-9/+]{40})(?P<keep_end>[^A-Za-z0-9/+=]|$)"
        ),
        Rewrite::Keep(Guard::NotHex),
    ),
    (
        "an AWS secret access key printed before its key id",
        concat!(
            r"(?P<keep_start>^|[^A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?P<keep_gap>[^A-Za-z0-9+\n][^\n]{0,60}?",
            aws_key_id!(),
            ")"
        ),
        Rewrite::Keep(Guard::NotHex),
    ),
    ("AWS access key ids", aws_key_id!(), Rewrite::Keep(Guard::None)),
    (
        "an AWS secret access key after its name, also without `=` (`aws configure set`)",
        r#"(?i)(?P<keep_name>\b(?:aws_)?secret_?access_?key\\?["']?(?:\s*[:=]\s*|\s+)\\?["']?)[A-Za-z0-9/+]{40}(?P<keep_end>[^A-Za-z0-9/+=]|$)"#,
        Rewrite::Keep(Guard::None),
    ),
    (
        "AWS session tokens by their prefix (the base64 of the token's header), also URL-encoded",
        r"\b(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|AQoDYXdzE)[A-Za-z0-9/+=%]{16,}",
        Rewrite::Keep(Guard::None),
    ),
    (
        "GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_, github_pat_",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[0-9A-Za-z_]{22,})",
        Rewrite::Keep(Guard::None),
    ),
    (
        "GitLab tokens: glpat-, gldt-, glptt-, …",
        r"\bgl(?:pat|dt|ptt|rt|cbt|ft|imt|soat|oas)-[0-9A-Za-z_.-]{20,}",
        Rewrite::Keep(Guard::None),
    ),
    (
        "Slack tokens: xoxb-, xoxp-, xoxa-, …, xapp-",
        r"\bx(?:ox[abposre]|app)-[0-9A-Za-z-]{10,}",
        Rewrite::Keep(Guard::None),
    ),
    (
        "Slack webhook URLs: the path after the host is the secret",
        r"(?P<keep_name>hooks\.slack\.com/(?:services|workflows|triggers)/)[0-9A-Za-z_+/-]+",
        Rewrite::Keep(Guard::None),
    ),
    (
        "Stripe secret, restricted and webhook keys",
        r"\b(?:(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
        Rewrite::Keep(Guard::None),
    ),
    ("Google API keys", r"\bAIza[0-9A-Za-z_-]{35}", Rewrite::Keep(Guard::None)),
    ("JWTs", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", Rewrite::Keep(Guard::None)),
    (
        "passwords in URLs, scheme://user:password@host (the user may be empty: redis://:pw@)",
        r"(?i)(?P<keep_name>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/?#]+(?P<keep_at>@)",
        Rewrite::Keep(Guard::None),
    ),
    (
        "passwords in Go MySQL DSNs: user:password@tcp(host)/db",
        r"(?P<keep_name>\b[0-9A-Za-z_.-]+:)[^\s@/:'\x22]+(?P<keep_at>@(?:(?:tcp|udp|unix)\(|/))",
        Rewrite::Keep(Guard::None),
    ),
    (
        "passwords in Oracle JDBC URLs: jdbc:oracle:thin:user/password@host",
        r"(?i)(?P<keep_name>\bjdbc:oracle:(?:thin|oci):[0-9A-Za-z_.$-]+/)[^\s@]+(?P<keep_at>@)",
        Rewrite::Keep(Guard::None),
    ),
    (
        "Cookie and Set-Cookie headers, also as JSON members",
        r#"(?i)(?P<name>\b(?:set-)?cookie\\?["']?\s*[:=]\s*\\?["']?)(?P<value>[^\r\n"'\\]+)"#,
        Rewrite::CookiePairs,
    ),
    (
        "Authorization headers, with or without a scheme",
        r#"(?i)(?P<keep_name>\b(?:proxy-)?authorization\\?["']?\s*[:=]\s*\\?["']?(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256)\s+)?)[^\s"'\\,\]]+"#,
        Rewrite::Keep(Guard::None),
    ),
    (
        "JSON members escaped inside a JSON string: {\\\"password\\\":\\\"…\\\"}",
        concat!(
            r#"(?i)(?P<keep_name>\\"[0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#"|authorization|cookie)\\"\s*:\s*\\")(?:\\\\\\"|\\\\|\\[^"\\]|[^"\\])*(?P<keep_end>\\")"#
        ),
        Rewrite::Keep(Guard::JsonName),
    ),
    (
        "JSON and Python-dict string values of secret names, double-quoted",
        concat!(
            r#"(?i)(?P<keep_name>["'][0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#"|authorization|cookie)["']\s*:\s*")(?:[^"\\]|\\.)*(?P<keep_end>")"#
        ),
        Rewrite::Keep(Guard::JsonName),
    ),
    (
        "JSON and Python-dict string values of secret names, single-quoted",
        concat!(
            r#"(?i)(?P<keep_name>["'][0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#"|authorization|cookie)["']\s*:\s*')(?:[^'\\]|\\.)*(?P<keep_end>')"#
        ),
        Rewrite::Keep(Guard::JsonName),
    ),
    (
        "Basic and Bearer credentials outside an Authorization header",
        r"(?i)(?P<keep_name>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)",
        Rewrite::Keep(Guard::NotAWord),
    ),
    (
        "name=value and name: value pairs (env dumps, query strings, connection strings, YAML)",
        concat!(
            r#"(?i)(?P<keep_name>\b[0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#")\b(?:\s*:?=\s*|\s*:\s+))(?:(?P<keep_oq>")[^"\n]*(?P<keep_cq>")|(?P<keep_osq>')[^'\n]*(?P<keep_csq>')|(?P<value>[^\s;,&"'<>\\]+))"#
        ),
        Rewrite::Keep(Guard::NameValue),
    ),
];

/// Whether `guard` leaves this match as it is. `name` is the `keep_name` group, `value` the
/// `value` group and `secret` the `secret` group, each empty when absent.
pub(super) fn spared(guard: Guard, name: &str, value: &str, secret: &str) -> bool {
    match guard {
        Guard::None => false,
        Guard::NotHex => secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        Guard::NotAWord => {
            let mut letters = value.chars();
            letters.next().is_some_and(|c| c.is_ascii_alphabetic()) && letters.all(|c| c.is_ascii_lowercase())
        }
        Guard::JsonName => spared_name(name),
        Guard::NameValue => spared_name(name) || is_error_name(name) || is_placeholder(value),
    }
}

/// The key of a `keep_name` group: `DB_PASSWORD` of `DB_PASSWORD=`, `password` of `\"password\":\"`.
fn key(name: &str) -> &str {
    name.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
}

/// Keys that name no secret although they end like one: pagination tokens, the shell's `PWD`.
fn spared_name(name: &str) -> bool {
    let key = key(name);
    let lower = key.to_ascii_lowercase().replace(['_', '-'], "");
    ["nexttoken", "pagetoken", "paginationtoken", "continuationtoken"].iter().any(|t| lower.ends_with(t))
        || key == "PWD"
        || key == "OLDPWD"
}

/// Error names written like a key: `ExpiredToken: The security token …`, `InvalidToken: …`.
fn is_error_name(name: &str) -> bool {
    let lower = key(name).to_ascii_lowercase();
    ["expired", "invalid", "missing", "malformed", "unrecognized", "bad"].iter().any(|p| lower.starts_with(p))
}

/// Values that say a secret is absent or already hidden: `null`, `undefined`, `YES` (MySQL's
/// `using password: YES`), `***`, `[REDACTED]`.
fn is_placeholder(value: &str) -> bool {
    const WORDS: &[&str] = &["null", "nil", "none", "undefined", "true", "false", "yes", "no", "[redacted]"];
    let value = value.trim_end_matches([')', ']', '}', '.']);
    WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)) || (!value.is_empty() && value.bytes().all(|b| b == b'*'))
}

/// Cookie attributes, kept whole in a `Set-Cookie` value.
const COOKIE_ATTRIBUTES: &[&str] =
    &["path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "partitioned", "priority"];

/// A cookie header's value with every cookie's value redacted: `a=1; Path=/` → `a=[REDACTED]; Path=/`.
pub(super) fn redact_cookies(value: &str, replacement: &str) -> String {
    let parts: Vec<String> = value
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((name, _)) if !COOKIE_ATTRIBUTES.contains(&name.trim().to_ascii_lowercase().as_str()) => {
                format!("{name}={replacement}")
            }
            _ => part.to_owned(),
        })
        .collect();
    parts.join(";")
}
