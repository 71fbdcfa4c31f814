//! The real lines the corpus tests read (`tests/rules/real/`, `tests/rules/blind/`,
//! `tests/errors/real/`): one case shape, each with its source, and the files of a folder.

use std::path::Path;

use serde::Deserialize;

/// One case: real lines found in a public source, with what a user expects of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealCase {
    /// The category a positive should give.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub runtime: Option<String>,
    /// `text` or `json` (failures).
    #[serde(default)]
    pub format: Option<String>,
    pub source: String,
    /// The error type a person reads in a failure (documentation only).
    #[serde(default)]
    pub error_type: Option<String>,
    /// What kind of quiet line it is (documentation only).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// A quiet line the product reports by design in this category (its note says why).
    #[serde(default)]
    pub expect: Option<String>,
    pub line: Option<String>,
    pub lines: Option<Vec<String>>,
}

impl RealCase {
    /// The case's events, in order.
    pub fn lines(&self) -> Vec<&str> {
        self.line.iter().chain(self.lines.iter().flatten()).map(String::as_str).collect()
    }
}

/// A file of real lines: positives (each with the category a user expects) and negatives (no
/// finding at all).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealFile {
    #[serde(default)]
    pub positive: Vec<RealCase>,
    #[serde(default)]
    pub negative: Vec<RealCase>,
}

/// The `.toml` files of `folder` (from the project's root) whose name `keep` accepts, read as
/// `T`, in name order, each with its file name.
pub fn files<T: for<'de> Deserialize<'de>>(folder: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, T)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let file: T = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), file)
        })
        .collect()
}
