//! The rule catalog: rules are data (`rules/*.toml`), compiled once at init, scanned in one pass.
//!
//! A rule names a failure (id, category, severity), explains it (title, summary, cause, fix,
//! docs) and says how it is recognised: literal `anchors` for the one-pass prefilter plus an
//! optional `regex` whose named captures fill the finding's `details`, and/or a built-in
//! `detector` that the correlator in [`crate::detect`] runs over parsed platform records
//! (memory figures, timeouts, init failures cannot be matched as plain text).
//!
//! Compilation fails loudly: an unknown field, an invalid regex, a duplicate id, an unknown
//! category, a rule without anchors or a template naming an unknown value is a [`RuleError`]
//! that names the file and the rule id. Nothing is compiled per message: all anchors of all
//! rules go into one Aho-Corasick automaton, so a message is scanned once, and only the rules
//! whose anchors hit run their regex. The automaton is aho-corasick's DFA over the anchors in
//! ASCII lower case, each byte lowered as it is read (the anchors of case-sensitive rules are
//! then confirmed byte for byte); a batch's messages are walked four at a time, which the CPU
//! runs faster than one after another (`src/rules/anchors.rs` says why and by how much).
//!
//! Everything is checked at load, built-in rules and `EXTRA_RULES_FILE` alike: a regex that
//! does not parse, or a template naming a value the rule does not have, stops init with a
//! [`RuleError`] naming the file and the rule. A rule of one's own has its regex compiled at
//! load, so one over the size limit (1 MiB compiled) stops init too; a built-in
//! rule's regex is compiled when its anchors first occur (all of them compiled would hold about
//! 12 MiB of a 128 MB function for rules most batches never need), and the test suite compiles
//! every one within the limit.
//!
//! Layout: [`spec`](RuleSpec) is the TOML shape, [`Template`] the summary and fix language,
//! `anchors.rs` the anchor automaton and the anchor pass, [`Catalog`] the compiled rules and the
//! scan.

mod anchors;
mod catalog;
mod rule_regex;
mod spec;
mod template;

pub use anchors::{
    ANCHOR_WINDOW, ANCHOR_WINDOW_BYTES, AnchorAt, BatchAnchors, ERROR_SIGNALS, FAILURE_WORDS, PLATFORM_PHRASES,
};
pub use catalog::{Catalog, Hit, Rule, ScanScratch};
pub use spec::{CONTEXT_NAMES, Detector, MatchSpec, Parser, RuleError, RuleSpec, parse_rule_file};
pub use template::Template;

/// The built-in catalog, embedded at build time from every `rules/*.toml` (see build.rs):
/// `(file name, contents)`, sorted by name.
pub const BUILTIN_RULE_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

#[cfg(test)]
mod tests {
    use super::spec::detail_name;
    use super::*;

    fn one(toml: &str) -> Result<Catalog, RuleError> {
        Catalog::from_file_text("test.toml", toml)
    }

    const GOOD: &str = r#"
[[rule]]
id = "demo-rule"
category = "network"
severity = "high"
title = "Demo"
summary = "{function} could not reach {host}[ on port {port}]"
cause = "Because."
fix = ["Check {host}.", "[Open port {port}.]"]
[rule.match]
anchors = ["ECONNREFUSED"]
regex = 'ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?'
"#;

    #[test]
    fn the_builtin_catalog_compiles() {
        let catalog = Catalog::load(&[], &[]).unwrap();
        assert!(catalog.rules().len() >= 10);
        assert!(catalog.detector_rule(Detector::OutOfMemory).is_some());
    }

    /// `load` compiles and checks every built-in rule (regex, captures, template names) as it
    /// does `EXTRA_RULES_FILE`, so a broken built-in regex fails init instead of never matching.
    #[test]
    fn every_builtin_regex_compiles_within_the_size_limit() {
        let failures = Catalog::load(&[], &[]).unwrap().regexes_that_do_not_compile();
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn a_broken_builtin_regex_fails_the_load() {
        assert!(Catalog::load(&[], &[]).is_ok());
        let (file, text) = BUILTIN_RULE_FILES.iter().find(|(f, _)| f.ends_with("network.toml")).unwrap();
        let broken = text.replacen("regex = '''", "regex = '''(unclosed", 1);
        let files: Vec<(&str, &str)> =
            BUILTIN_RULE_FILES.iter().map(|(f, t)| if f == file { (*f, broken.as_str()) } else { (*f, *t) }).collect();
        let error = Catalog::load_files(&files, &[], &[]).unwrap_err();
        assert!(error.to_string().contains("network.toml: rule `"), "{error}");
        assert!(error.to_string().contains("invalid regex"), "{error}");
    }

    /// A status code or a port is a whole number: `429` in `14290` or `:5432` in `:54321` is
    /// no anchor, while a lettered anchor that ends in digits (`[HY000] [200`) stays a substring.
    #[test]
    fn numeric_anchors_match_whole_numbers_only() {
        let toml = GOOD
            .replace(r#"anchors = ["ECONNREFUSED"]"#, r#"anchors = ["429", ":5432", "[HY000] [200"]"#)
            .replace(r"regex = 'ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?'", "")
            .replace("{host}", "{function}")
            .replace("[ on port {port}]", "")
            .replace("[Open port {port}.]", "Open the port.");
        let catalog = one(&toml).unwrap();
        let fires = |message: &str| {
            let mut hits = Vec::new();
            catalog.scan(message, &mut ScanScratch::default(), &mut hits);
            !hits.is_empty()
        };
        for line in [
            "HTTP 429 Too Many Requests",
            "status=429",
            "{\"statusCode\":429}",
            "429",
            "connect ECONNREFUSED 10.0.0.5:5432",
            "dial tcp 10.1.2.3:5432: connect: connection refused",
            "SQLSTATE[HY000] [2002] Connection refused",
        ] {
            assert!(fires(line), "{line}");
        }
        for line in ["order 14290 shipped", "took 4291 ms", "total 1429.5", "id 4292", "listening on :54321"] {
            assert!(!fires(line), "{line}");
        }
    }

    #[test]
    fn one_pass_keeps_case_sensitive_anchors_exact() {
        let rule = |id: &str, anchor: &str, case_insensitive: bool| {
            format!(
                "[[rule]]\nid = \"{id}\"\ncategory = \"network\"\nseverity = \"low\"\ntitle = \"t\"\nsummary = \"s\"\ncause = \"c\"\nfix = [\"f\"]\n[rule.match]\nanchors = [\"{anchor}\"]\ncase_insensitive = {case_insensitive}\n"
            )
        };
        let catalog =
            one(&format!("{}{}", rule("exact", "ECONNREFUSED", false), rule("any-case", "econnrefused", true)))
                .unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        let ids = |hits: &[Hit]| hits.iter().map(|h| catalog.rules()[h.rule].id().to_owned()).collect::<Vec<_>>();
        catalog.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(ids(&hits), ["exact", "any-case"]);
        hits.clear();
        catalog.scan("connect Econnrefused 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(ids(&hits), ["any-case"], "a case-sensitive anchor must not match another case");
    }

    #[test]
    fn scan_runs_regex_only_after_an_anchor_and_keeps_captures() {
        let catalog = one(GOOD).unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        catalog.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].captures, vec![("host".into(), "10.0.0.5".into()), ("port".into(), "5432".into())]);
        hits.clear();
        catalog.scan("all good", &mut scratch, &mut hits);
        catalog.scan("ECONNREFUSED but no address", &mut scratch, &mut hits);
        assert!(hits.is_empty());
        let vetoed =
            one(&GOOD
                .replace("anchors = [\"ECONNREFUSED\"]", "anchors = [\"ECONNREFUSED\"]\nexclude = [\"healthcheck\"]"))
            .unwrap();
        vetoed.scan("healthcheck: connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert!(hits.is_empty());
        vetoed.scan("connect ECONNREFUSED 10.0.0.5:5432", &mut scratch, &mut hits);
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn numbered_groups_fill_one_detail() {
        let toml = GOOD.replace(
            r"regex = 'ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?'",
            r"regex = 'ECONNREFUSED (?P<host>[\d.]+):(?P<port>\d+)|port (?P<port__2>\d+) on (?P<host__2>[\d.]+) ECONNREFUSED'",
        );
        let catalog = one(&toml).unwrap();
        let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
        catalog.scan("port 5432 on 10.0.0.5 ECONNREFUSED", &mut scratch, &mut hits);
        let mut captures = hits[0].captures.clone();
        captures.sort();
        assert_eq!(captures, vec![("host".into(), "10.0.0.5".into()), ("port".into(), "5432".into())]);
        assert_eq!(detail_name("port__12"), "port");
        assert_eq!(detail_name("a__b"), "a__b");
        assert_eq!(detail_name("__2"), "__2");
    }

    #[test]
    fn templates_drop_optional_sections_and_keep_escapes() {
        let t = Template::parse("{a} used[ {b} of] {{x}} [[y]]").unwrap();
        let only_a = |n: &str| (n == "a").then(|| "A".to_owned());
        assert_eq!(t.render(&only_a).as_deref(), Some("A used {x} [y]"));
        let none = |_: &str| None;
        assert_eq!(t.render(&none), None);
        assert!(Template::parse("[unclosed").is_err());
        assert!(Template::parse("stray ]").is_err());
        assert!(Template::parse("{unclosed").is_err());
    }

    #[test]
    fn bad_rules_fail_with_file_and_id() {
        let cases = [
            (GOOD.replace("severity = \"high\"", "severity = \"high\"\nsevrity = 1"), "unknown field"),
            (GOOD.replace("network", "networking"), "unknown variant"),
            (GOOD.replace(r"(?P<host>[\d.]+)", "(?P<host>[\\d.+"), "invalid regex"),
            // Well-formed, but no such class: only translating the pattern finds it.
            (GOOD.replace(r"[\d.]+", r"\p{Klingon}+"), "invalid regex"),
            (GOOD.replace("anchors = [\"ECONNREFUSED\"]", "anchors = []"), "anchor"),
            (GOOD.replace("demo-rule", "Demo_Rule"), "kebab-case"),
            (GOOD.replace("Check {host}.", "Check {hots}."), "`hots`"),
            (format!("{GOOD}\n{GOOD}"), "duplicate"),
        ];
        for (toml, expected) in cases {
            let err = one(&toml).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("test.toml: rule `"), "{text}");
            assert!(text.contains(expected), "{text} should mention {expected}");
        }
        // An extra rules file is checked completely, built-in rules or not beside it.
        let extra = [("extra.toml".to_owned(), GOOD.replace(r"[\d.]+", r"\p{Klingon}+"))];
        let err = Catalog::load(&extra, &[]).unwrap_err();
        assert!(err.to_string().starts_with("extra.toml: rule `demo-rule`: invalid regex"), "{err}");
        assert!(Catalog::load(&[("extra.toml".to_owned(), GOOD.to_owned())], &[]).is_ok());
        let err = one("[[rule]]\nid = 3").unwrap_err();
        assert!(err.to_string().contains("test.toml"), "{err}");
        let err = one("this is not toml").unwrap_err();
        assert_eq!(err.rule, None);
    }

    /// `ECONNREFUSED (?:E0x|E1x|…)`, `n` alternatives.
    fn alternation(n: usize) -> String {
        format!("ECONNREFUSED (?:{})", (0..n).map(|i| format!("E{i}x")).collect::<Vec<_>>().join("|"))
    }

    /// A rule of one's own whose regex is over the size limit once compiled parsed,
    /// loaded, and was dropped at its first use with a log line; it is refused at load, naming
    /// the file, the rule and the limit. Its near misses load and match.
    #[test]
    fn a_custom_regex_too_large_once_compiled_is_refused_at_load() {
        let with = |regex: &str| GOOD.replace(r"ECONNREFUSED (?P<host>[\d.]+)(?::(?P<port>\d+))?", regex);
        for regex in [r"ECONNREFUSED (?P<host>\w{24})", r"ECONNREFUSED a{1000000}", alternation(20_000).as_str()] {
            let toml = with(regex).replace("{host}", "{function}").replace("{port}", "{function}");
            let error = Catalog::load(&[("extra.toml".to_owned(), toml)], &[]).unwrap_err().to_string();
            assert!(
                error.starts_with(
                    "extra.toml: rule `demo-rule`: regex is too large once compiled (limit 1048576 bytes): "
                ),
                "{error}"
            );
        }
        // Near misses: ASCII classes, a count a regex needs, a shorter alternation.
        for (regex, line) in [
            (r"ECONNREFUSED (?P<host>[A-Za-z0-9_]{24})", "ECONNREFUSED abcdefghijklmnopqrstuvwx"),
            (r"ECONNREFUSED (?P<host>(?-u:\w){24})", "ECONNREFUSED abcdefghijklmnopqrstuvwx"),
            (r"ECONNREFUSED (?P<host>\w{12})", "ECONNREFUSED abcdefghijkl"),
            (r"ECONNREFUSED (?P<host>a{1000})", &format!("ECONNREFUSED {}", "a".repeat(1000))),
            (&alternation(1_000), "ECONNREFUSED E999x"),
        ] {
            let toml = with(regex).replace("{host}", "{function}").replace("{port}", "{function}");
            let catalog = Catalog::load(&[("extra.toml".to_owned(), toml)], &[]).unwrap_or_else(|e| panic!("{e}"));
            let (mut scratch, mut hits) = (ScanScratch::default(), Vec::new());
            catalog.scan(line, &mut scratch, &mut hits);
            // The built-in class rules may match the line too; the rule of one's own must.
            let own = hits.iter().filter(|hit| catalog.rules()[hit.rule].id() == "demo-rule").count();
            assert_eq!(own, 1, "{regex}");
        }
        // A built-in rule keeps its lazy compile: the same regex in a built-in file is parsed only.
        let (file, text) = BUILTIN_RULE_FILES.iter().find(|(f, _)| f.ends_with("network.toml")).unwrap();
        let big = text.replacen("(?P<host>", r"(?P<host>\w{24}|", 1);
        let files: Vec<(&str, &str)> =
            BUILTIN_RULE_FILES.iter().map(|(f, t)| if f == file { (*f, big.as_str()) } else { (*f, *t) }).collect();
        assert_eq!(Catalog::load_files(&files, &[], &[]).unwrap().regexes_that_do_not_compile().len(), 1);
    }

    /// A group, `key` or `values` named after a detail that later stages write would
    /// be overwritten without a word; the rule is refused at load instead.
    #[test]
    fn reserved_detail_names_are_refused_at_load_naming_file_rule_and_name() {
        let group = |name: &str| GOOD.replace("(?P<port>", &format!("(?P<{name}>")).replace("{port}", "{function}");
        let reserved = [
            ("context", group("context")),
            ("enrichment", group("enrichment")),
            ("values", group("values")),
            ("suppressed_findings", group("suppressed_findings")),
            ("suppressed_occurrences", group("suppressed_occurrences")),
            ("suppress_window_seconds", group("suppress_window_seconds")),
            ("context", group("context__2")),
            ("fingerprint", group("fingerprint")),
            ("error_title", group("error_title")),
            ("error_type", group("error_type")),
            ("values", GOOD.replace("[rule.match]", "values = [\"values\"]\n[rule.match]")),
            ("context", GOOD.replace("[rule.match]", "key = [\"context\"]\n[rule.match]")),
        ];
        for (name, toml) in reserved {
            let error = one(&toml).unwrap_err().to_string();
            assert!(error.starts_with("test.toml: rule `demo-rule`: "), "{error}");
            assert!(error.contains(&format!("`{name}` is a reserved detail name")), "{name}: {error}");
        }
        // Near misses: names that only begin or end like a reserved one.
        for name in ["context_id", "value", "fingerprints", "error_type_name", "enrichment_source"] {
            assert!(one(&group(name)).is_ok(), "{name}");
        }
        // A rule whose detector fills the error fields may key on them, as the built-in ones do.
        let detector_rule = "[[rule]]\nid = \"my-unhandled\"\ncategory = \"unhandled_error\"\nseverity = \"high\"\ntitle = \"t\"\nsummary = \"{function} failed with {error_title}\"\ncause = \"c\"\nfix = [\"f\"]\nkey = [\"fingerprint\"]\ndetector = \"unhandled-error\"\n";
        assert!(one(detector_rule).is_ok());
        // A built-in rule is held to the stages' names too (it may capture `error_type`, which
        // `lambda-response-too-large` does without a fingerprint).
        let (file, text) = BUILTIN_RULE_FILES.iter().find(|(f, _)| f.ends_with("network.toml")).unwrap();
        let broken = text.replacen("(?P<host>", "(?P<enrichment>", 1);
        let files: Vec<(&str, &str)> =
            BUILTIN_RULE_FILES.iter().map(|(f, t)| if f == file { (*f, broken.as_str()) } else { (*f, *t) }).collect();
        let error = Catalog::load_files(&files, &[], &[]).unwrap_err().to_string();
        assert!(error.contains("network.toml: rule `") && error.contains("`enrichment` is a reserved"), "{error}");
    }

    #[test]
    fn disabling_an_unknown_rule_is_an_error_and_a_known_one_removes_it() {
        let err = Catalog::load(&[], &["no-such-rule".into()]).unwrap_err();
        assert_eq!(err.file, "DISABLED_RULES");
        let all = Catalog::load(&[], &[]).unwrap();
        let id = all.rules()[0].id().to_owned();
        let fewer = Catalog::load(&[], std::slice::from_ref(&id)).unwrap();
        assert_eq!(fewer.rules().len() + 1, all.rules().len());
        assert!(fewer.rules().iter().all(|r| r.id() != id));
    }
}
