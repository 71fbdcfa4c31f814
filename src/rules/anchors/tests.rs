//! Tests of `rules::anchors`.

use super::*;

fn anchors(list: &[&str]) -> Anchors {
    let mut table = AnchorTable::default();
    for anchor in list {
        table.add(anchor, None);
    }
    table.build().unwrap()
}

/// Every occurrence of every anchor, found the slow way: each anchor at each position.
fn reference(list: &[&str], message: &str) -> Vec<AnchorAt> {
    let lowered = message.to_ascii_lowercase();
    let mut found = Vec::new();
    for (anchor, text) in list.iter().enumerate() {
        let text = text.to_ascii_lowercase();
        for start in 0..=lowered.len().saturating_sub(text.len()) {
            if lowered.as_bytes().get(start..start + text.len()) == Some(text.as_bytes()) {
                found.push(AnchorAt { anchor, start, end: start + text.len() });
            }
        }
    }
    found.sort();
    found
}

const LIST: &[&str] = &["AccessDenied", "denied", "access denied", "500", "Task timed out after ", "ied", "é"];

const MESSAGES: &[&str] = &[
    "User is not authorized: ACCESSDENIED and access denied for user, code 500",
    "",
    "a",
    "Task timed out after 3.00 seconds",
    "accessdeniedaccessdenied",
    "nothing to see here, move along please",
    "500500 5000 denied",
    "café é É",
    "Access Denied",
    "x",
    "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/r/f",
];

#[test]
fn a_message_gives_every_occurrence_in_any_case() {
    let automaton = anchors(LIST);
    for message in MESSAGES {
        let mut found = Vec::new();
        automaton.find(message.as_bytes(), &mut found);
        found.sort();
        assert_eq!(found, reference(LIST, message), "{message:?}");
    }
}

#[test]
fn a_batch_walked_four_at_a_time_gives_what_each_message_gives_alone() {
    let automaton = anchors(LIST);
    // Every count of messages up to all of them, in every rotation: lanes that are empty,
    // that hold one message or several, and that run out before the others.
    for count in 0..=MESSAGES.len() {
        for rotation in 0..MESSAGES.len() {
            let messages: Vec<&str> = MESSAGES.iter().cycle().skip(rotation).take(count).copied().collect();
            let batch = automaton.find_each(&messages);
            for (index, message) in messages.iter().enumerate() {
                let mut alone = batch.of(index).to_vec();
                alone.sort();
                assert_eq!(alone, reference(LIST, message), "message {index} of {count}: {message:?}");
            }
            assert!(batch.of(count).is_empty());
        }
    }
}

#[test]
fn a_message_never_finishes_an_anchor_the_one_before_began() {
    let automaton = anchors(LIST);
    // Each pair spells an anchor across the two messages ("acc"+"essdenied": "accessdenied";
    // "xxden"+"ied": "denied"); many pairs, so that every lane reads them one after another.
    let messages: Vec<&str> = ["acc", "essdenied", "xxden", "ied", "Task timed ", "out after 3 s"].repeat(40);
    let batch = automaton.find_each(&messages);
    for (index, message) in messages.iter().enumerate() {
        let mut alone = batch.of(index).to_vec();
        alone.sort();
        assert_eq!(alone, reference(LIST, message), "message {index}: {message:?}");
    }
    let mut found = Vec::new();
    automaton.find(b"essdenied", &mut found);
    let mut names: Vec<&str> = found.iter().map(|at| LIST[at.anchor]).collect();
    names.sort_unstable();
    assert_eq!(names, ["denied", "ied"]);
}

#[test]
fn a_large_batch_gives_each_message_its_own_finds() {
    let automaton = anchors(LIST);
    // Lengths that differ from lane to lane, so that lanes run out of a message at different
    // times and one lane runs out of messages while the others still read.
    let messages: Vec<String> = (0..500)
        .map(|n| format!("{}{}{}", "x".repeat(n % 37), MESSAGES[n % MESSAGES.len()], " denied".repeat(n % 5)))
        .collect();
    let messages: Vec<&str> = messages.iter().map(String::as_str).collect();
    let batch = automaton.find_each(&messages);
    for (index, message) in messages.iter().enumerate() {
        let mut alone = batch.of(index).to_vec();
        alone.sort();
        assert_eq!(alone, reference(LIST, message), "message {index}: {message:?}");
    }
}
