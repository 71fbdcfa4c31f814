//! The anchor pass: every anchor of every rule, and the platform's phrases, in one automaton
//! that finds where each occurs in a message, whatever its case.
//!
//! The automaton is aho-corasick's DFA over the anchors in ASCII lower case, stepped through its
//! public [`Automaton`] API, each byte lowered as it is read, so no message is copied. A DFA
//! step is one table load that depends on the one before, so one message is walked at the
//! speed of that load's latency. A batch is walked four messages at a time instead, four
//! independent chains of loads that the CPU overlaps ([`Anchors::find_each`]).
//!
//! Measured on the worst-case batch of `make bench` (scratch programs outside the
//! repository, old and new builds alternating, min of 21 to 100 runs each):
//! - the anchor pass alone, over the messages the scan reads: daachorse's double array, one
//!   message at a time on a lowered copy, 6.5–8.5 ms; this DFA one message at a time, 7.7–9.5
//!   ms; four messages at a time, 4.2–5.1 ms;
//! - a whole analysis (`Analyzer::analyze`): 10.7–12.8 ms with daachorse, 8.7–10.0 ms now (the
//!   scan runs the pass a window of 1,024 messages ahead); the whole pipeline 21.6–24.1 ms, now
//!   20.8–21.9 ms;
//! - the DFA over the lowered anchors takes about 1.7 MB and 4.5 ms to build at init
//!   (daachorse 1.6 ms); built ASCII case-insensitive instead, 3.4 MB and 13–18 ms.

use std::collections::HashMap;
use std::fmt;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use super::spec::RuleError;

/// Phrases of Lambda's platform lines that can appear after a prefix (see
/// [`crate::detect::platform`]). They ride in the anchor pass so that the platform parser searches a
/// message for them only when one occurs, at no extra pass over every message.
pub const PLATFORM_PHRASES: &[&str] = &[
    "Task timed out after ",
    "Runtime exited ",
    "Process exited before completing request",
    "REPORT RequestId:",
    "START RequestId:",
    "END RequestId:",
    "INIT_REPORT ",
    "INIT_START ",
    "RESTORE_REPORT ",
    "Max Memory Used:",
    "Sandbox.Timedout",
    "Lambda:ExecutionTimeoutException",
];

/// Phrases of the shapes an unhandled or logged error takes (see `crate::detect::errors`):
/// they ride in the anchor pass, so that a message is read for an error only when one occurs.
pub const ERROR_SIGNALS: &[&str] = &[
    "exception",
    "traceback",
    "stack",
    "errortype",
    "errormessage",
    "invoke error",
    "promise rejection",
    "unhandledpromiserejectionwarning",
    "panic",
    "[error]",
    "\terror\t",
    "[fatal]",
    "\tfatal\t",
    "[critical]",
    "thrown",
    "exc_info",
    "\"@x\"",
    "\tat ",
    "\n    at ",
    "\nat ",
    "error:",
    "an error occurred (",
    "error('",
    "error(\"",
    "\"success\": false",
    "\"success\":false",
    ":in `",
    ":in '",
    "lambda runtime invoke",
    "lambda_runtime",
    "\"err\":",
    "\"error\":{",
    "\"error\": {",
    "\"level\":50",
    "\"level\":60",
    "\"level\":\"error\"",
    "\"level\": \"error\"",
    "\"level\":\"fatal\"",
    "\"level\": \"fatal\"",
    "error :",
    "error (",
    "level=error",
    "level=fatal",
    " - error ",
    " error ",
    "| error |",
    "lambda_warning: unhandled exception",
];

/// Words that say something failed: in the anchor pass as a kind only (no rule owns them), so
/// that a class rule (`fallback = true`) is tried only on a message that holds one.
pub const FAILURE_WORDS: &[&str] = &[
    "error",
    "exception",
    "fail",
    "fatal",
    "cannot",
    "can't",
    "could not",
    "couldn't",
    "unable",
    "refused",
    "denied",
    "timed out",
    "timedout",
    "exceeded",
    "killed",
    "crashed",
    "abort",
    "panic",
    "not found",
    "missing",
    "invalid",
    "unhandled",
    "uncaught",
    "forbidden",
    "not authorized",
    "segmentation",
    "too many",
    "too large",
    "no such",
    "not installed",
    "no space",
    "disk space is low",
    "low disk space",
    "disk is full",
    "disk full",
    "out of memory",
    "throttled",
    "rejected",
    "reset",
    "unreachable",
    "expired",
    "terminated",
    "exited",
    "not set",
    "not have permission",
    "lacks permission",
    "malformed",
    "lost",
    "broken pipe",
    "hang up",
    "sigsegv",
    "sigabrt",
    "cannot be",
    "not executable",
    "handshake timeout",
    "timeout awaiting",
    "timeout waiting",
    "timeout while",
    "inactivity timeout",
    "gateway timeout",
    "gateway_timeout",
    "invocation_timeout",
    "timeout occurred",
    "canceled",
    "cancelled",
    "bad ",
    "went wrong",
    "read-only file system",
    "erofs",
    "max allowed",
    "maximum allowed",
    "nosuch",
    "doesnotexist",
    "must be addressed",
    "is wrong",
    "states.timeout",
    "status: timeout",
    "exhausted",
    "was a problem",
    "status:n/a",
    "browser closed",
    "no route to host",
    "i/o timeout",
    "no longer supported",
    "too_large",
    "illegal",
    "unsuccessful",
    "exports found",
    "initializing your function",
    "not yet",
    "active yet",
    "ready yet",
    "exist yet",
    "net::err_",
    "bad_alloc",
];

/// An anchor that is one of the platform's phrases ([`PLATFORM_PHRASES`]).
pub(super) const PLATFORM_PHRASE: u8 = 1;
/// An anchor with a letter in it. Numeric anchors (`429`, `:5432`) also occur in ids and
/// figures of ordinary JSON lines, so they alone are no reason to unfold a message.
pub(super) const WORDED: u8 = 2;
/// An anchor without a letter and with a digit (`500`, `429`, `:5432`): it matches a whole
/// number, not digits inside a longer one. A status code or port is never glued to other digits
/// (every rule's regex asks for a boundary there), while ids, counts and amounts hold these
/// digits all the time: in the worst-case batch, `500` and `429` occurred in a thousand order
/// numbers and amounts, each compiling and running a regex that could not match.
pub(super) const WHOLE_NUMBER: u8 = 4;
/// An anchor that is one of [`ERROR_SIGNALS`].
pub(super) const ERROR_SIGNAL: u8 = 8;
/// An anchor that is one of [`FAILURE_WORDS`].
pub(super) const FAILURE_WORD: u8 = 16;

/// How many messages the scan's anchor pass reads ahead at a time
/// ([`Catalog::find_anchors`](super::Catalog::find_anchors)): several walked at once are
/// faster than one after another, and a window keeps what it found small (a batch at the
/// decompression cap holds 160k events) and its messages still in cache when they are scanned.
pub const ANCHOR_WINDOW: usize = 1024;

/// The most text a window of the anchor pass holds (unless one message is longer): every
/// occurrence found is kept until the window is scanned, and a short anchor (`429`) can occur
/// every few bytes, so a window of a thousand messages at the decompression cap held 350 MB of
/// occurrences. At most 512 KiB of text keeps them to a few MiB.
pub const ANCHOR_WINDOW_BYTES: usize = 512 * 1024;

/// How many messages a batch's anchor pass walks at once (four chains of dependent loads
/// kept the CPU busiest in the scratch program; eight were no faster). The lockstep loop of
/// [`Anchors::find_each`] names its four lanes.
const LANES: usize = 4;
const _: () = assert!(LANES == 4, "find_each's lockstep loop is written for four lanes");

/// Every anchor of every rule, in one automaton.
#[derive(Clone)]
pub(super) struct Anchors {
    /// The distinct anchors in ASCII lower case; a match's pattern (the anchor's position)
    /// indexes `owners` and `kinds`.
    automaton: DFA,
    /// Where every walk starts.
    start: StateID,
    /// Per distinct anchor: the rules that have it, each with the exact text the anchor must
    /// have in the message when its rule is case-sensitive.
    pub(super) owners: Vec<Vec<(usize, Option<String>)>>,
    /// Per distinct anchor: what kind of text it is ([`PLATFORM_PHRASE`], [`WORDED`],
    /// [`WHOLE_NUMBER`]).
    pub(super) kinds: Vec<u8>,
}

impl fmt::Debug for Anchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anchors").field("distinct", &self.owners.len()).finish_non_exhaustive()
    }
}

/// One occurrence of an anchor in a message: which (its index among the distinct anchors) and
/// where (`start..end`, in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnchorAt {
    pub(super) anchor: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The anchors found in each of several messages (a batch, or a window of one), in their order
/// ([`Catalog::find_anchors`](super::Catalog::find_anchors)).
#[derive(Debug, Default)]
pub struct BatchAnchors {
    found: Vec<AnchorAt>,
    /// Per message, where its occurrences end in `found`.
    ends: Vec<usize>,
}

impl BatchAnchors {
    /// The occurrences in message `index` (none for an index past the batch).
    pub fn of(&self, index: usize) -> &[AnchorAt] {
        let start = index.checked_sub(1).and_then(|i| self.ends.get(i)).copied().unwrap_or(0);
        let end = self.ends.get(index).copied().unwrap_or(start);
        self.found.get(start..end).unwrap_or_default()
    }
}

impl Anchors {
    /// The DFA's next state from `state` on `byte`, read in ASCII lower case.
    fn step(&self, state: StateID, byte: u8) -> StateID {
        self.automaton.next_state(Anchored::No, state, byte.to_ascii_lowercase())
    }

    /// Appends the anchors that end at `end` when the walk is in `state`.
    fn record(&self, state: StateID, end: usize, found: &mut Vec<AnchorAt>) {
        if !self.automaton.is_match(state) {
            return;
        }
        for index in 0..self.automaton.match_len(state) {
            let anchor = self.automaton.match_pattern(state, index);
            let start = end - self.automaton.pattern_len(anchor);
            found.push(AnchorAt { anchor: anchor.as_usize(), start, end });
        }
    }

    /// Walks `text` on from `state`, its first byte at `offset` in the message; appends every
    /// anchor found.
    fn walk(&self, mut state: StateID, text: &[u8], offset: usize, found: &mut Vec<AnchorAt>) {
        for (at, &byte) in text.iter().enumerate() {
            state = self.step(state, byte);
            self.record(state, offset + at + 1, found);
        }
    }

    /// Appends every occurrence of every anchor in `message` (overlapping ones too), in order
    /// of where they end.
    pub(super) fn find(&self, message: &[u8], found: &mut Vec<AnchorAt>) {
        self.walk(self.start, message, 0, found);
    }

    /// [`Anchors::find`] for every message of a batch, walking [`LANES`] messages at once: the
    /// batch is cut into as many runs of messages of about equal bytes, one per lane, and the
    /// lanes step in lockstep, each through its own messages in turn, until one runs out; the
    /// others then finish alone. Each lane's finds are in its messages' order, so the lanes'
    /// finds one after another are the batch's.
    pub(super) fn find_each(&self, messages: &[&str]) -> BatchAnchors {
        let total: usize = messages.iter().map(|message| message.len()).sum();
        let mut cuts = [messages.len(); LANES + 1];
        cuts[0] = 0;
        let mut read = 0;
        let mut lane = 1;
        for (index, message) in messages.iter().enumerate() {
            while lane < LANES && read >= total * lane / LANES {
                cuts[lane] = index;
                lane += 1;
            }
            read += message.len();
        }
        let mut lanes: [Lane<'_>; LANES] = std::array::from_fn(|lane| {
            Lane::new(messages.get(cuts[lane]..cuts[lane + 1]).unwrap_or_default(), self.start)
        });
        while lanes.iter_mut().all(|lane| lane.refill(self.start)) {
            let [a, b, c, d] = &mut lanes;
            let run = a.text.len().min(b.text.len()).min(c.text.len()).min(d.text.len());
            let mut states = [a.state, b.state, c.state, d.state];
            let texts = [&a.text[..run], &b.text[..run], &c.text[..run], &d.text[..run]];
            for (at, (((&w, &x), &y), &z)) in texts[0].iter().zip(texts[1]).zip(texts[2]).zip(texts[3]).enumerate() {
                states[0] = self.step(states[0], w);
                states[1] = self.step(states[1], x);
                states[2] = self.step(states[2], y);
                states[3] = self.step(states[3], z);
                self.record(states[0], a.read + at + 1, &mut a.found);
                self.record(states[1], b.read + at + 1, &mut b.found);
                self.record(states[2], c.read + at + 1, &mut c.found);
                self.record(states[3], d.read + at + 1, &mut d.found);
            }
            for (lane, state) in lanes.iter_mut().zip(states) {
                lane.state = state;
                lane.text = &lane.text[run..];
                lane.read += run;
            }
        }
        let mut batch = BatchAnchors { found: Vec::new(), ends: Vec::with_capacity(messages.len()) };
        for mut lane in lanes {
            loop {
                self.walk(lane.state, lane.text, lane.read, &mut lane.found);
                lane.text = &[];
                if !lane.refill(self.start) {
                    break;
                }
            }
            let before = batch.found.len();
            batch.found.append(&mut lane.found);
            batch.ends.extend(lane.ends.iter().map(|end| before + end));
        }
        batch
    }
}

/// One lane of [`Anchors::find_each`]: a run of the batch's messages, read one after another.
struct Lane<'a> {
    /// The messages not started yet.
    waiting: std::slice::Iter<'a, &'a str>,
    /// Whether a message is being read (and is not yet closed in `ends`).
    open: bool,
    /// The unread bytes of the message being read.
    text: &'a [u8],
    /// How many of its bytes were read.
    read: usize,
    /// Where the walk stands in it.
    state: StateID,
    /// The anchors found in this lane's messages, in order.
    found: Vec<AnchorAt>,
    /// Per message read, where its finds end in `found`.
    ends: Vec<usize>,
}

impl<'a> Lane<'a> {
    fn new(messages: &'a [&'a str], start: StateID) -> Self {
        Lane {
            waiting: messages.iter(),
            open: false,
            text: &[],
            read: 0,
            state: start,
            found: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Until there are bytes to read: closes the message read to its end, opens the next.
    /// `false` when this lane's messages are all read.
    fn refill(&mut self, start: StateID) -> bool {
        while self.text.is_empty() {
            if self.open {
                self.ends.push(self.found.len());
                self.open = false;
            }
            let Some(message) = self.waiting.next() else {
                return false;
            };
            (self.text, self.read, self.state, self.open) = (message.as_bytes(), 0, start, true);
        }
        true
    }
}

/// The distinct anchors in lower case as they are added, and who owns each.
#[derive(Default)]
pub(super) struct AnchorTable {
    distinct: Vec<String>,
    slot_of: HashMap<String, usize>,
    owners: Vec<Vec<(usize, Option<String>)>>,
}

impl AnchorTable {
    /// Adds an anchor of a rule (`(rule, exact text when case-sensitive)`), or a platform
    /// phrase (`None`).
    pub(super) fn add(&mut self, anchor: &str, owner: Option<(usize, Option<String>)>) {
        let lowered = anchor.to_ascii_lowercase();
        let slot = match self.slot_of.get(&lowered) {
            Some(&slot) => slot,
            None => {
                self.slot_of.insert(lowered.clone(), self.distinct.len());
                self.distinct.push(lowered);
                self.owners.push(Vec::new());
                self.distinct.len() - 1
            }
        };
        self.owners[slot].extend(owner);
    }

    /// Compiles the automaton over every anchor added.
    pub(super) fn build(self) -> Result<Anchors, RuleError> {
        let kinds = self
            .distinct
            .iter()
            .map(|anchor| {
                let platform = PLATFORM_PHRASES.iter().any(|p| p.eq_ignore_ascii_case(anchor));
                let signal = ERROR_SIGNALS.iter().any(|p| p.eq_ignore_ascii_case(anchor));
                let failure = FAILURE_WORDS.iter().any(|p| p.eq_ignore_ascii_case(anchor));
                let worded = anchor.bytes().any(|b| b.is_ascii_alphabetic());
                let number = !worded && anchor.bytes().any(|b| b.is_ascii_digit());
                (u8::from(platform) * PLATFORM_PHRASE)
                    | (u8::from(worded) * WORDED)
                    | (u8::from(number) * WHOLE_NUMBER)
                    | (u8::from(signal) * ERROR_SIGNAL)
                    | (u8::from(failure) * FAILURE_WORD)
            })
            .collect();
        let error = |problem: String| RuleError { file: "(catalog)".into(), rule: None, problem };
        // Standard semantics: a match state holds every anchor that ends there, overlapping
        // ones included. A match's pattern is the anchor's position in `distinct`.
        let automaton = DFA::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .byte_classes(true)
            // The walk is stepped by hand: a prefilter would never run.
            .prefilter(false)
            .build(&self.distinct)
            .map_err(|e| error(format!("anchors do not compile: {e}")))?;
        let start = automaton.start_state(Anchored::No).map_err(|e| error(format!("anchors do not compile: {e}")))?;
        Ok(Anchors { automaton, start, owners: self.owners, kinds })
    }
}

#[cfg(test)]
mod tests;
