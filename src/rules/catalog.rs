//! The compiled catalog: every rule checked and compiled at load, every anchor in one
//! automaton, and the one-pass scan of a message.

use std::collections::{BTreeSet, HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use super::BUILTIN_RULE_FILES;
use super::anchors::{
    AnchorAt, AnchorTable, Anchors, BatchAnchors, ERROR_SIGNAL, ERROR_SIGNALS, FAILURE_WORD, FAILURE_WORDS,
    PLATFORM_PHRASE, PLATFORM_PHRASES, WHOLE_NUMBER, WORDED,
};
use super::rule_regex::{RegexCheck, RuleRegex};
use super::spec::{CONTEXT_NAMES, Detector, RuleError, RuleSpec, is_kebab_case, parse_rule_file, reserved_name};
use super::template::Template;

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written.
    pub spec: RuleSpec,
    /// The compiled summary.
    pub summary: Template,
    /// The compiled fix steps.
    pub fix: Vec<Template>,
    regex: Option<RuleRegex>,
    exclude: Option<AhoCorasick>,
}

impl Rule {
    /// The rule id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }
}

/// One rule matching one message: the rule and the regex's named captures.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the rule in [`Catalog::rules`].
    pub rule: usize,
    /// `(capture name, captured text)` for every named capture that took part.
    pub captures: Vec<(String, String)>,
}

/// The compiled catalog: the rules plus the automaton that scans for all of them at once.
#[derive(Debug, Clone)]
pub struct Catalog {
    rules: Vec<Rule>,
    anchors: Anchors,
    /// The class rules' anchors (`fallback = true`), apart: they are walked only for a message
    /// no other rule matched that says something failed ([`Catalog::scan_classes`]), so their
    /// common words cost the anchor pass nothing.
    class_anchors: Anchors,
}

/// Reusable buffers for [`Catalog::scan`] and [`Catalog::scan_found`], so scanning a batch
/// allocates once, not per message.
#[derive(Debug, Default)]
pub struct ScanScratch {
    found: Vec<AnchorAt>,
    class_found: Vec<AnchorAt>,
    candidates: Vec<usize>,
    /// The kinds of the anchors of the last message, or-ed.
    kinds: u8,
}

impl ScanScratch {
    /// Whether the last message [`Catalog::scan`] or [`Catalog::scan_found`] read holds a platform phrase
    /// ([`PLATFORM_PHRASES`], in any case).
    pub fn platform_phrase(&self) -> bool {
        self.kinds & PLATFORM_PHRASE != 0
    }

    /// Whether the last message [`Catalog::scan`] or [`Catalog::scan_found`] read holds an anchor with a letter in it
    /// (a rule's or a platform phrase).
    pub fn worded_anchor(&self) -> bool {
        self.kinds & WORDED != 0
    }

    /// Whether the last message read holds one of [`ERROR_SIGNALS`] (in any case): it may
    /// report an unhandled or a logged error.
    pub fn error_signal(&self) -> bool {
        self.kinds & ERROR_SIGNAL != 0
    }

    /// Whether the last message read holds one of [`FAILURE_WORDS`] (in any case): it says
    /// something failed, and a class rule may speak for it.
    pub fn failure_word(&self) -> bool {
        self.kinds & FAILURE_WORD != 0
    }
}

impl Catalog {
    /// Compiles rule specs, each paired with the file it came from, checking everything now:
    /// every regex is compiled and every template name resolved (as for `EXTRA_RULES_FILE`).
    ///
    /// # Errors
    ///
    /// The first [`RuleError`] found: a duplicate or malformed id, a rule with neither a match
    /// nor a detector, a match without anchors, an invalid regex, or a bad template.
    pub fn compile(specs: Vec<(String, RuleSpec)>) -> Result<Self, RuleError> {
        Self::compile_checking(specs.into_iter().map(|(file, spec)| (file, spec, RegexCheck::Compiled)).collect())
    }

    /// [`Catalog::compile`], each rule's regex checked as far as its origin needs.
    fn compile_checking(specs: Vec<(String, RuleSpec, RegexCheck)>) -> Result<Self, RuleError> {
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(specs.len());
        let mut table = AnchorTable::default();
        let mut class_table = AnchorTable::default();
        for (file, spec, depth) in specs {
            if !seen.insert(spec.id.clone()) {
                return Err(RuleError { file, rule: Some(spec.id), problem: "duplicate rule id".into() });
            }
            let rule = compile_rule(&file, spec, depth)?;
            if let Some(matcher) = &rule.spec.matcher {
                let table = if rule.spec.fallback { &mut class_table } else { &mut table };
                for anchor in &matcher.anchors {
                    table.add(anchor, Some((rules.len(), (!matcher.case_insensitive).then(|| anchor.clone()))));
                }
            }
            rules.push(rule);
        }
        for phrase in PLATFORM_PHRASES.iter().chain(ERROR_SIGNALS).chain(FAILURE_WORDS) {
            table.add(phrase, None);
        }
        Ok(Self { rules, anchors: table.build()?, class_anchors: class_table.build()? })
    }

    /// One rules file's text, parsed and compiled as by [`Catalog::compile`], without the
    /// built-in rules: the catalog a library user or a test builds from its own rules.
    ///
    /// # Errors
    ///
    /// A [`RuleError`] naming `file`, as [`parse_rule_file`](super::parse_rule_file) and
    /// [`Catalog::compile`] give it.
    pub fn from_file_text(file: &str, text: &str) -> Result<Self, RuleError> {
        let specs = super::parse_rule_file(file, text)?;
        Self::compile(specs.into_iter().map(|spec| (file.to_owned(), spec)).collect())
    }

    /// Loads the built-in catalog plus optional extra files, without the disabled rule ids,
    /// checked and compiled as by [`Catalog::compile`], except that a built-in regex is only
    /// parsed: a built-in rule with a syntax error, a missing detail or a bad
    /// template fails init like an extra one.
    ///
    /// # Errors
    ///
    /// A [`RuleError`] for the first bad file or rule, or for a disabled id that no rule has.
    pub fn load(extra: &[(String, String)], disabled: &[String]) -> Result<Self, RuleError> {
        Self::load_files(BUILTIN_RULE_FILES, extra, disabled)
    }

    /// [`Catalog::load`] over a given set of built-in files (the tests break one).
    pub(super) fn load_files(
        builtin: &[(&str, &str)],
        extra: &[(String, String)],
        disabled: &[String],
    ) -> Result<Self, RuleError> {
        let mut specs = Vec::new();
        let files = builtin
            .iter()
            .map(|(f, t)| (*f, *t, RegexCheck::Parsed))
            .chain(extra.iter().map(|(f, t)| (f.as_str(), t.as_str(), RegexCheck::Compiled)));
        for (file, text, depth) in files {
            for spec in parse_rule_file(file, text)? {
                specs.push((file.to_owned(), spec, depth));
            }
        }
        for id in disabled {
            if !specs.iter().any(|(_, spec, _)| &spec.id == id) {
                return Err(RuleError {
                    file: "DISABLED_RULES".into(),
                    rule: Some(id.clone()),
                    problem: "no rule has this id (see `troubleshooter rules`)".into(),
                });
            }
        }
        specs.retain(|(_, spec, _)| !disabled.contains(&spec.id));
        Self::compile_checking(specs)
    }

    /// The compiled rules, in catalog order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Compiles every rule's regex now, as first use would: the rules whose regex does not
    /// compile (over the size limit), with why.
    #[cfg(test)]
    pub(super) fn regexes_that_do_not_compile(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|rule| Some((rule.id(), rule.regex.as_ref()?.compiles().err()?)))
            .map(|(id, error)| format!("{id}: {error}"))
            .collect()
    }

    /// The detail names that tell one finding of the rule `rule_id` from another (its `key`);
    /// empty for an unknown rule.
    pub fn key_fields(&self, rule_id: &str) -> &[String] {
        self.rules.iter().find(|rule| rule.id() == rule_id).map(|rule| rule.spec.key.as_slice()).unwrap_or_default()
    }

    /// The index of the rule reported by `detector`, unless it was disabled.
    pub fn detector_rule(&self, detector: Detector) -> Option<usize> {
        self.rules.iter().position(|rule| rule.spec.detector == Some(detector))
    }

    /// Scans one message against every rule in one pass and appends the hits to `hits`.
    /// Candidate rules come from the anchor automaton; only they run their regex.
    pub fn scan(&self, message: &str, scratch: &mut ScanScratch, hits: &mut Vec<Hit>) {
        let mut found = std::mem::take(&mut scratch.found);
        found.clear();
        self.anchors.find(message.as_bytes(), &mut found);
        self.scan_found(message, &found, scratch, hits);
        scratch.found = found;
    }

    /// The anchor pass over several messages at once (a window of a batch, [`ANCHOR_WINDOW`](super::ANCHOR_WINDOW)
    /// messages in the scan), faster than one
    /// [`Catalog::scan`] each (`src/rules/anchors.rs` says why); [`Catalog::scan_found`] then
    /// takes each message's anchors.
    pub fn find_anchors(&self, messages: &[&str]) -> BatchAnchors {
        self.anchors.find_each(messages)
    }

    /// [`Catalog::scan`] of a message whose anchors were already found
    /// ([`Catalog::find_anchors`]). Class rules are not among them: [`Catalog::scan_classes`].
    pub fn scan_found(&self, message: &str, found: &[AnchorAt], scratch: &mut ScanScratch, hits: &mut Vec<Hit>) {
        let ScanScratch { candidates, kinds, .. } = scratch;
        *kinds = self.candidates(&self.anchors, message, found, candidates);
        self.run_candidates(message, candidates, hits);
    }

    /// The class rules' hits on `message` (`fallback = true`, kept apart from the anchor pass):
    /// the scan asks for them only for a message no other rule matched that says something
    /// failed. The kinds of the message read last stay as they were.
    pub fn scan_classes(&self, message: &str, scratch: &mut ScanScratch, hits: &mut Vec<Hit>) {
        let ScanScratch { class_found, candidates, .. } = scratch;
        class_found.clear();
        self.class_anchors.find(message.as_bytes(), class_found);
        self.candidates(&self.class_anchors, message, class_found, candidates);
        self.run_candidates(message, candidates, hits);
    }

    /// The rules whose anchors of `anchors` occur in `found` (into `candidates`, sorted and
    /// without repeats); returns the kinds of the anchors found, or-ed.
    fn candidates(&self, anchors: &Anchors, message: &str, found: &[AnchorAt], candidates: &mut Vec<usize>) -> u8 {
        candidates.clear();
        let mut kinds = 0;
        let bytes = message.as_bytes();
        for at in found {
            let kind = anchors.kinds.get(at.anchor).copied().unwrap_or(0);
            if kind & WHOLE_NUMBER != 0 && inside_a_number(bytes, at.start, at.end) {
                continue;
            }
            kinds |= kind;
            for (rule, exact) in anchors.owners.get(at.anchor).map_or(&[][..], Vec::as_slice) {
                if exact.as_ref().is_none_or(|anchor| bytes.get(at.start..at.end) == Some(anchor.as_bytes())) {
                    candidates.push(*rule);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        kinds
    }

    /// Runs the regex of every candidate rule not vetoed by its exclusions; appends the hits.
    fn run_candidates(&self, message: &str, candidates: &[usize], hits: &mut Vec<Hit>) {
        for &index in candidates {
            let rule = &self.rules[index];
            if rule.exclude.as_ref().is_some_and(|veto| veto.is_match(message)) {
                continue;
            }
            match &rule.regex {
                None => hits.push(Hit { rule: index, captures: Vec::new() }),
                Some(checked) => {
                    if let Some(caps) = checked.get().and_then(|regex| regex.captures(message)) {
                        let mut captures: Vec<(String, String)> = Vec::new();
                        for (group, detail) in &checked.captures {
                            if let Some(m) = caps.name(group)
                                && !captures.iter().any(|(name, _)| name == detail)
                            {
                                captures.push((detail.clone(), m.as_str().trim().to_owned()));
                            }
                        }
                        hits.push(Hit { rule: index, captures });
                    }
                }
            }
        }
    }
}

/// Whether the digits at the edges of `bytes[start..end]` continue a number outside it: a digit
/// right before a first digit, or right after a last one.
fn inside_a_number(bytes: &[u8], start: usize, end: usize) -> bool {
    let digit = |at: Option<usize>| at.and_then(|i| bytes.get(i)).is_some_and(u8::is_ascii_digit);
    (digit(Some(start)) && digit(start.checked_sub(1))) || (digit(end.checked_sub(1)) && digit(Some(end)))
}

/// Checks one rule completely and compiles its regex, exclusions and templates.
fn compile_rule(file: &str, spec: RuleSpec, depth: RegexCheck) -> Result<Rule, RuleError> {
    let error = |problem: String| RuleError { file: file.to_owned(), rule: Some(spec.id.clone()), problem };
    if !is_kebab_case(&spec.id) {
        return Err(error("the id must be kebab-case (a-z, 0-9 and single dashes)".into()));
    }
    if spec.matcher.is_none() && spec.detector.is_none() {
        return Err(error("a rule needs a [rule.match] with anchors, or a detector".into()));
    }
    if spec.fallback && (spec.matcher.is_none() || spec.detector.is_some()) {
        return Err(error("a fallback (class) rule matches text: it needs a [rule.match] and no detector".into()));
    }
    if spec.fallback && spec.yields_to_classes {
        return Err(error("a class rule cannot also yield to class rules".into()));
    }
    if spec.fix.is_empty() {
        return Err(error("a rule needs at least one fix step".into()));
    }
    let mut regex = None;
    let mut exclude = None;
    if let Some(matcher) = &spec.matcher {
        if matcher.anchors.is_empty() || matcher.anchors.iter().any(|a| a.trim().is_empty()) {
            return Err(error("[rule.match] needs at least one non-empty anchor".into()));
        }
        if let Some(pattern) = &matcher.regex {
            regex = Some(RuleRegex::check(pattern, matcher.case_insensitive, depth).map_err(error)?);
        }
        if !matcher.exclude.is_empty() {
            if matcher.exclude.iter().any(|e| e.trim().is_empty()) {
                return Err(error("[rule.match] exclude entries must not be empty".into()));
            }
            exclude = Some(
                // A contiguous NFA: an exclusion runs only on a message whose anchors hit, and
                // the DFA the builder would choose for so few patterns cost 9 M instructions
                // of init over the catalog's 19 exclusion lists (callgrind).
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .ascii_case_insensitive(matcher.case_insensitive)
                    .build(&matcher.exclude)
                    .map_err(|e| error(format!("exclude does not compile: {e}")))?,
            );
        }
    }
    let groups = regex.iter().flat_map(|c| c.captures.iter().map(|(_, detail)| detail.as_str()));
    if let Some(problem) = reserved_name(&spec, groups, depth == RegexCheck::Compiled) {
        return Err(error(problem));
    }
    let mut known: BTreeSet<&str> = CONTEXT_NAMES.iter().copied().collect();
    known.extend(regex.iter().flat_map(|c| c.captures.iter().map(|(_, detail)| detail.as_str())));
    known.extend(spec.detector.map(Detector::detail_names).unwrap_or_default());
    known.extend(spec.parser.map(|p| p.detail_names()).unwrap_or_default());
    let summary = Template::parse(&spec.summary).map_err(|e| error(format!("summary: {e}")))?;
    let fix = spec
        .fix
        .iter()
        .map(|step| Template::parse(step).map_err(|e| error(format!("fix: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let names = summary.names().into_iter().chain(fix.iter().flat_map(Template::names));
    if let Some(name) = spec.key.iter().find(|name| spec.values.contains(name)) {
        return Err(error(format!("`{name}` is in both `key` (a finding per value) and `values` (listed inside one)")));
    }
    let fields = spec.key.iter().chain(&spec.values).map(String::as_str);
    if let Some(name) = names.chain(fields).find(|name| !known.contains(name)) {
        return Err(error(format!(
            "`{name}` is not a value this rule has (known: {})",
            known.iter().copied().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(Rule { spec, summary, fix, regex, exclude })
}
