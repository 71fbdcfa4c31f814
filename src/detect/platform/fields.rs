//! The `Key: value` fields of a text platform line, read by key in any order: what the
//! keyword lines and the phrases after a prefix both read.

/// The `Key:` names of text platform lines. Longer keys that contain shorter ones are listed
/// so that leftmost-longest matching never mistakes `Billed Duration` for `Duration`.
pub(super) const FIELD_KEYS: &[&str] = &[
    "RequestId:",
    "Duration:",
    "Billed Duration:",
    "Memory Size:",
    "Max Memory Used:",
    "Init Duration:",
    "Restore Duration:",
    "Billed Restore Duration:",
    "Status:",
    "Error Type:",
    "Phase:",
    "Version:",
    "Runtime Version:",
    "Runtime Version ARN:",
];

/// The fields of one text platform line, by key.
#[derive(Default)]
pub(super) struct Fields<'a> {
    pub(super) values: [Option<&'a str>; FIELD_KEYS.len()],
}

impl<'a> Fields<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a str> {
        // Every REPORT line asks for eight fields: a suffix strip and one comparison per key,
        // not a character-by-character trim.
        let index = FIELD_KEYS.iter().position(|k| k.strip_suffix(':') == Some(key))?;
        self.values[index]
    }

    /// A figure: a finite number (`NaN` and `inf` parse as floats, and mean nothing here).
    pub(super) fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok().filter(|n: &f64| n.is_finite())
    }

    pub(super) fn megabytes(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}
