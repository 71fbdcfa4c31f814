//! When a match is no secret after all: the guards of the redaction patterns
//! ([`super::patterns::PATTERNS`]) and the checks they make on a match's groups.

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
    /// Command-line options: not a negated flag (`--no-password`), a shell variable
    /// (`-p $TOKEN`) nor a placeholder.
    Option,
    /// A JSON key written with `\u` escapes: only when the decoded key names a secret.
    EscapedName,
    /// `user:password@host` without a scheme: not a label before an address
    /// (`mailto:jane@example.com`) nor an image tag before its digest (`nginx:1.25@sha256:…`).
    UserInfo,
}

/// Whether `guard` leaves this match as it is. `group` gives a named group of the match,
/// empty when absent: `keep_name` (the name kept before the secret), `value`, `secret`, `key`
/// (an escaped JSON key) and `keep_host`.
pub(super) fn spared<'a>(guard: Guard, group: impl Fn(&str) -> &'a str) -> bool {
    let (name, value) = (group("keep_name"), group("value"));
    match guard {
        Guard::None => false,
        Guard::NotHex => group("secret").bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        Guard::NotAWord => {
            let mut letters = value.chars();
            letters.next().is_some_and(|c| c.is_ascii_alphabetic()) && letters.all(|c| c.is_ascii_lowercase())
        }
        Guard::JsonName => spared_name(name),
        Guard::NameValue => spared_name(name) || is_error_name(name) || is_placeholder(value),
        Guard::Option => {
            let option = key(name).trim_start_matches('-').to_ascii_lowercase();
            option.starts_with("no-")
                || option.starts_with("no_")
                || spared_name(name)
                || value.starts_with('$')
                || is_placeholder(value)
        }
        Guard::EscapedName => {
            let key = unescape_key(group("key"));
            !names_a_secret(&key) || spared_name(&key)
        }
        Guard::UserInfo => {
            let user = key(name).to_ascii_lowercase();
            let host = group("keep_host").trim_start_matches('@').to_ascii_lowercase();
            LABELS.contains(&user.as_str()) || host.starts_with("sha256:") || host.starts_with("sha512:")
        }
    }
}

/// Words written before an address with a colon, not users: `mailto:jane@example.com`,
/// `from:ops@example.com`, `npm:react@18.2.0`.
const LABELS: &[&str] = &[
    "mailto",
    "email",
    "e-mail",
    "mail",
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "sender",
    "recipient",
    "rcpt",
    "contact",
    "user",
    "username",
    "login",
    "author",
    "committer",
    "owner",
    "by",
    "npm",
    "sip",
    "xmpp",
];

/// The key of a `keep_name` group: `DB_PASSWORD` of `DB_PASSWORD=`, `password` of `\"password\":\"`,
/// `password` of `password%3D`.
fn key(name: &str) -> &str {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    let key = name.trim_matches(|c: char| !word(c));
    key.strip_suffix("%3D").or_else(|| key.strip_suffix("%3d")).unwrap_or(key)
}

/// Keys that name no secret although they end like one: pagination tokens, the shell's `PWD`.
fn spared_name(name: &str) -> bool {
    let key = key(name);
    let lower = key.to_ascii_lowercase().replace(['_', '-'], "");
    ["nexttoken", "pagetoken", "paginationtoken", "continuationtoken", "startingtoken"]
        .iter()
        .any(|t| lower.ends_with(t))
        || key == "PWD"
        || key == "OLDPWD"
}

/// `secret_names!` (in `patterns.rs`) with `_` and `-` left out, plus `authorization` and `cookie`: what a key
/// that names a secret ends with, once its separators are removed.
const SECRET_NAME_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "pswd",
    "pwd",
    "passphrase",
    "secret",
    "secretstring",
    "secretkey",
    "accesskey",
    "token",
    "apikey",
    "privatekey",
    "xamzsignature",
    "authorization",
    "cookie",
];

/// Whether a decoded JSON key names a secret, as `secret_names!` (in `patterns.rs`) would match it.
pub(super) fn names_a_secret(key: &str) -> bool {
    let lower = key.to_ascii_lowercase().replace(['_', '-'], "");
    SECRET_NAME_ENDINGS.iter().any(|ending| lower.ends_with(ending))
}

/// A JSON key with its `\u00XX` escapes (one or two backslashes) decoded: `pass\u0077ord` →
/// `password`. The patterns only let ASCII escapes through.
pub(super) fn unescape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find("\\u") {
        let (before, escape) = rest.split_at(at);
        out.push_str(before.trim_end_matches('\\'));
        let decoded = escape.get(2..6).and_then(|hex| u32::from_str_radix(hex, 16).ok()).and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = escape.get(6..).unwrap_or_default();
            }
            None => {
                out.push_str("\\u");
                rest = escape.get(2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
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
