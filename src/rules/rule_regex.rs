//! A rule's regex: checked at load as far as its origin needs, compiled on first use, with the
//! details its named groups fill.
//!
//! Every compiled regex has the same size limit, [`SIZE_LIMIT`]. A rule of one's own
//! (`EXTRA_RULES_FILE`, [`Catalog::compile`](super::Catalog::compile)) is compiled at load,
//! so a regex over the limit (a Unicode class under a counted repetition such as `\w{24}`, a
//! long alternation, `a{1000000}`) stops init with the rule's name instead of being dropped at
//! its first use. A built-in rule's regex is parsed at load and compiled on first use: the test
//! suite compiles every one of them within the limit.

use std::sync::OnceLock;

use regex::Regex;

use super::spec::detail_name;

/// The most memory a rule's compiled regex may take, in bytes (the regex crate's
/// `size_limit`): enough for every built-in rule, far from a 128 MB function's memory.
pub const SIZE_LIMIT: usize = 1 << 20;

/// A rule's regex, checked at load and compiled on its first use, with the details its named
/// groups fill.
///
/// Every regex is parsed at load, so a bad one (built-in or not) fails init with its file and
/// rule; a rule of one's own is also compiled there, to check it completely
/// ([`RegexCheck::Compiled`]). Each is kept compiled from when the rule's anchors first occur:
/// compiling all ~90 at init would hold about 12 MiB more of a 128 MB function's memory
/// (`make rss`: 23 MiB after init instead of 11) and take about 70 ms, for rules most batches
/// never need.
#[derive(Debug, Clone)]
pub(super) struct RuleRegex {
    pattern: String,
    case_insensitive: bool,
    /// `(group name, detail name)` for every named group.
    pub(super) captures: Vec<(String, String)>,
    compiled: OnceLock<Option<Regex>>,
}

impl RuleRegex {
    /// Checks `pattern` as far as `depth` asks and keeps what is needed to match with it.
    ///
    /// # Errors
    ///
    /// What is wrong, in words: `invalid regex: …`, or for a compiled one
    /// `regex is too large once compiled (limit N bytes): …`.
    pub(super) fn check(pattern: &str, case_insensitive: bool, depth: RegexCheck) -> Result<Self, String> {
        match depth {
            RegexCheck::Parsed => Self::parse(pattern, case_insensitive),
            RegexCheck::Compiled => Self::compile(pattern, case_insensitive),
        }
    }

    /// Parses `pattern` with the regex crate's own parser, which finds syntax errors (an
    /// unclosed group, a bad repetition, a duplicate group name) and the group names; keeps
    /// what is needed to compile it on first use. Checking the whole catalog this way takes a
    /// fraction of what compiling it would (callgrind: compiling every built-in regex cost
    /// 240 M instructions, 70 ms of a 15 ms init budget).
    fn parse(pattern: &str, case_insensitive: bool) -> Result<Self, String> {
        let ast = regex_syntax::ast::parse::Parser::new().parse(pattern).map_err(|e| format!("invalid regex: {e}"))?;
        let mut names = Vec::new();
        capture_names(&ast, &mut names);
        Ok(Self::new(pattern, case_insensitive, names))
    }

    /// Compiles `pattern` now, as first use will, with the same options and [`SIZE_LIMIT`]: the
    /// only complete check (an unknown Unicode class, a class that can match invalid UTF-8 and
    /// the size limit are found past parsing). The compiled regex is not kept: a rule's is
    /// compiled again when its anchors first occur, like a built-in one, so memory holds only
    /// the regexes a batch needed (kept, the 30 regexes of a file of 34 rules held about 6 MB
    /// more after init). The check costs what that compile costs, about 0.7 ms a regex with the
    /// regex crate optimised, against 0.05 ms for parsing and translating alone.
    fn compile(pattern: &str, case_insensitive: bool) -> Result<Self, String> {
        let regex = build_regex(pattern, case_insensitive).map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => format!(
                "regex is too large once compiled (limit {limit} bytes): Unicode classes under a counted repetition (\\w{{24}}: write [A-Za-z0-9_]{{24}} or (?-u:\\w){{24}}), long alternations and large repetition counts grow past it"
            ),
            error => format!("invalid regex: {error}"),
        })?;
        let names = regex.capture_names().flatten().map(str::to_owned).collect();
        drop(regex);
        Ok(Self::new(pattern, case_insensitive, names))
    }

    fn new(pattern: &str, case_insensitive: bool, names: Vec<String>) -> Self {
        let captures = names.into_iter().map(|group| (group.clone(), detail_name(&group).to_owned())).collect();
        Self { pattern: pattern.to_owned(), case_insensitive, captures, compiled: OnceLock::new() }
    }

    /// The compiled regex, built on first use. `None` only for a built-in pattern whose
    /// compiled program is over the size limit, which the test suite rules out (a rule of one's
    /// own over it is refused at load); such a rule does not match rather than take the
    /// function down.
    pub(super) fn get(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| {
                build_regex(&self.pattern, self.case_insensitive)
                    .inspect_err(|error| tracing::error!(%error, "a rule's regex does not compile; it will not match"))
                    .ok()
            })
            .as_ref()
    }

    /// Compiles now (the test suite checks that every built-in regex compiles).
    #[cfg(test)]
    pub(super) fn compiles(&self) -> Result<(), regex::Error> {
        build_regex(&self.pattern, self.case_insensitive).map(|_| ())
    }
}

/// How far a rule's regex is checked at load.
///
/// The built-in regexes are compiled by the test suite
/// (`every_builtin_regex_compiles_within_the_size_limit`), so they are parsed only: compiling
/// them all at init would cost memory and time most batches never need ([`RuleRegex`]). A rule
/// of one's own, which no test has seen, is compiled at load, with the same [`SIZE_LIMIT`] as
/// first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegexCheck {
    /// Parsed: a built-in rule.
    Parsed,
    /// Compiled (then dropped until first use): a rule from `EXTRA_RULES_FILE` or
    /// [`Catalog::compile`](super::Catalog::compile).
    Compiled,
}

/// The names of the capture groups of `ast`, in order.
fn capture_names(ast: &regex_syntax::ast::Ast, names: &mut Vec<String>) {
    use regex_syntax::ast::{Ast, GroupKind};
    match ast {
        Ast::Group(group) => {
            if let GroupKind::CaptureName { name, .. } = &group.kind {
                names.push(name.name.clone());
            }
            capture_names(&group.ast, names);
        }
        Ast::Alternation(alternation) => alternation.asts.iter().for_each(|a| capture_names(a, names)),
        Ast::Concat(concat) => concat.asts.iter().for_each(|a| capture_names(a, names)),
        Ast::Repetition(repetition) => capture_names(&repetition.ast, names),
        _ => {}
    }
}

/// `pattern` compiled with the rules' options and [`SIZE_LIMIT`].
fn build_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(case_insensitive).size_limit(SIZE_LIMIT).build()
}
