//! The redaction patterns as a table: what each secret form looks like and what of a match is
//! kept. Kept apart from [`super::Redactor`] so the forms can be read (and extended) as one
//! list; `tests/redaction/corpus.toml` measures them.
//!
//! Every part of a match outside the groups named `keep…` is the secret and becomes
//! `[REDACTED]`: `(?P<keep_name>password=)hunter2` gives `password=[REDACTED]`. A [`Guard`]
//! leaves a match alone when it is a known non-secret (`PWD=/var/task`, `apiKey=undefined`,
//! `ExpiredToken: The security token…`).

use super::guard::Guard;

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

/// A percent-escape that can be part of the user of a URL-encoded URL: any but `%3A` (`:`),
/// `%2F` (`/`), `%23` (`#`), `%3F` (`?`) and `%40` (`@`), which end it.
macro_rules! url_escape_in_user {
    () => {
        r"%(?:[015-9A-F][0-9A-F]|2[0-24-9A-E]|3[0-9B-E]|4[1-9A-F])"
    };
}

/// A percent-escape that can be part of the password of a URL-encoded URL: any but `%2F`,
/// `%23`, `%3F` and `%40` (a password may hold a `:`, as in a URL that is not encoded).
macro_rules! url_escape_in_password {
    () => {
        r"%(?:[015-9A-F][0-9A-F]|2[0-24-9A-E]|3[0-9A-E]|4[1-9A-F])"
    };
}

/// A percent-escape that can be part of a URL-encoded value: any but `%26` (`&`), which
/// starts the next pair.
macro_rules! url_escape_in_value {
    () => {
        r"%(?:[013-9A-F][0-9A-F]|2[0-57-9A-F])"
    };
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
        "passwords in URL-encoded URLs: postgres%3A%2F%2Fuser%3Apassword%40host (a URL inside a query string)",
        concat!(
            r"(?i)(?P<keep_name>\b[a-z][a-z0-9+.-]*%3A%2F%2F(?:[^\s:/@%&?#\x22'\\]|",
            url_escape_in_user!(),
            r")*%3A)(?:[^\s@/?#%&\x22'\\]|",
            url_escape_in_password!(),
            r")+(?P<keep_at>%40)"
        ),
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
        "passwords in user:password@host without a scheme (admin:s3cret@db.example.com:5432)",
        r#"(?P<keep_name>(?:^|[\s"'(\[=,;<>])[A-Za-z][0-9A-Za-z_.+-]*:)(?P<value>[^\s@:/?#"'\\,;()\[\]{}<>`]+)(?P<keep_host>@[0-9A-Za-z\[][0-9A-Za-z.:\[\]-]*)"#,
        Rewrite::Keep(Guard::UserInfo),
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
        "JSON members escaped twice (a JSON string inside a JSON string): \\\\\\\"password\\\\\\\":\\\\\\\"…\\\\\\\"",
        concat!(
            r#"(?i)(?P<keep_name>\\\\\\"[0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#"|authorization|cookie)\\\\\\"\s*:\s*\\\\\\")(?:[^"\\]|\\+[^"\\]|\\{4,}")*(?P<keep_end>\\\\\\")"#
        ),
        Rewrite::Keep(Guard::JsonName),
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
        "JSON members whose key is written with \\u escapes (\"pass\\u0077ord\"), escaped inside a JSON string",
        concat!(
            r#"(?i)(?P<keep_name>\\"(?P<key>(?:[0-9A-Za-z_.-]|\\\\u00[2-7][0-9A-F])*\\\\u00[2-7][0-9A-F](?:[0-9A-Za-z_.-]|\\\\u00[2-7][0-9A-F])*)"#,
            r#"\\"\s*:\s*\\")(?:\\\\\\"|\\\\|\\[^"\\]|[^"\\])*(?P<keep_end>\\")"#
        ),
        Rewrite::Keep(Guard::EscapedName),
    ),
    (
        "JSON members whose key is written with \\u escapes (\"pass\\u0077ord\")",
        concat!(
            r#"(?i)(?P<keep_name>"(?P<key>(?:[0-9A-Za-z_.-]|\\u00[2-7][0-9A-F])*\\u00[2-7][0-9A-F](?:[0-9A-Za-z_.-]|\\u00[2-7][0-9A-F])*)"#,
            r#""\s*:\s*")(?:[^"\\]|\\.)*(?P<keep_end>")"#
        ),
        Rewrite::Keep(Guard::EscapedName),
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
        "command-line options (--password hunter2, -storepass x), also as argv lists ['--password', 'x']",
        concat!(
            r#"(?i)(?P<keep_name>(?:^|[\s"'\[,])--?(?:[0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#")|(?:[0-9A-Za-z_.-]*[_.-])?(?:(?:src|dest)?(?:store|key))?pass)(?:=|\s+|\\?["']\s*,\s*\\?["']))"#,
            r#"(?:(?P<keep_oq>\\?")[^"\n\\]*(?P<keep_cq>\\?")|(?P<keep_osq>')[^'\n]*(?P<keep_csq>')|(?P<value>[^\s"'\\,;&|\]-][^\s"'\\,;&|\]]*))"#
        ),
        Rewrite::Keep(Guard::Option),
    ),
    (
        "-p PASSWORD where -p is the password: sshpass, docker/podman login, the MongoDB tools",
        concat!(
            r"(?P<keep_name>\b(?:sshpass|(?:docker|podman|nerdctl|buildah|skopeo|oras) login|mongo(?:sh|dump|restore|import|export|stat|top|files)?)\b",
            r#"[^\n]*?\s-p\s+)(?:(?P<keep_oq>\\?")[^"\n\\]*(?P<keep_cq>\\?")|(?P<keep_osq>')[^'\n]*(?P<keep_csq>')|(?P<value>[^\s"'\\;&|-][^\s"'\\;&|]*))"#
        ),
        Rewrite::Keep(Guard::Option),
    ),
    (
        "-pPASSWORD written against the option, as the MySQL and MariaDB clients take it",
        concat!(
            r"(?P<keep_name>\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb|mariadb-dump|mariadb-admin)\b",
            r#"[^\n]*?\s-p)(?P<value>[^\s"'\\;&|-][^\s"'\\;&|]*)"#
        ),
        Rewrite::Keep(Guard::Option),
    ),
    (
        "name=value pairs URL-encoded once: a form body or a query string logged encoded (password%3Dhunter2%26…)",
        concat!(
            r#"(?i)(?P<keep_name>\b[0-9A-Za-z_.-]*?(?:"#,
            secret_names!(),
            r#")%3D)(?P<value>(?:[^\s&;,"'<>\\%]|"#,
            url_escape_in_value!(),
            r")+)"
        ),
        Rewrite::Keep(Guard::NameValue),
    ),
    (
        "pass= and pw= in a query string (?pass=, &pass=), which outside one are too common a word to redact",
        r#"(?i)(?P<keep_name>[?&](?:pass|pw)=)(?P<value>[^\s&#"'<>\\]+)"#,
        Rewrite::Keep(Guard::NameValue),
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

#[cfg(test)]
mod tests {
    use super::super::guard::{names_a_secret, unescape_key};

    /// The escaped-key guard says of a decoded key what `secret_names!` says of a plain one.
    #[test]
    fn secret_name_endings_agree_with_secret_names() {
        let names = regex::Regex::new(concat!("(?i)^[0-9A-Za-z_.-]*?(?:", secret_names!(), "|authorization|cookie)$"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        for key in ["DB_PASSWORD", "client-secret", "x-amz-signature", "refresh_token", "api-key", "Cookie"] {
            assert!(names.is_match(key) && names_a_secret(key), "{key}");
        }
        for key in ["user", "password_hint", "tokens", "secret_name", "keyId"] {
            assert!(!names.is_match(key) && !names_a_secret(key), "{key}");
        }
        assert_eq!(unescape_key(r"pass\u0077ord"), "password");
        assert_eq!(unescape_key(r"pass\\u0077or\\u0064"), "password");
        assert_eq!(unescape_key(r"bad\u00zz"), r"bad\u00zz");
    }
}
