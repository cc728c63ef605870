//! Fuzzing on the stable toolchain (issue 19): property tests over arbitrary bytes and over
//! structured mutations of real samples, for everything that reads input from outside — the
//! Twilio webhook parsers and signature check, TwiML generation from caller-supplied text, and
//! scenario parsing. Each target runs `PALERA_FUZZ_CASES` cases (256 by default; `scripts/test`
//! sets the CI budget). Inputs that ever failed are kept by proptest in `proptest-regressions/`
//! beside this file and replayed first on every run.

use palera_carrier::sim::Scenario;
use palera_carrier::twilio::signature::{
    compute_signature, parse_form, validate_request, BodyKind,
};
use palera_carrier::twilio::twiml::{Conference, Dial, Enqueue, Method, Play, Response, Say};
use palera_carrier::twilio::webhook::{self, Params};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per target.
fn budget() -> u32 {
    std::env::var("PALERA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> Config {
    Config {
        cases: budget(),
        ..Config::default()
    }
}

/// Real webhook bodies of each kind (as Twilio sends them), the seeds of the mutations.
const SAMPLES: &[&str] = &[
    "AccountSid=AC1&CallSid=CA1&From=%2B14155550100&To=%2B14155550199&CallStatus=ringing&Direction=inbound",
    "AccountSid=AC1&CallSid=CA1&From=client%3Aagent-7&To=%2B14155550123&CallStatus=ringing",
    "CallSid=CA1&CallStatus=completed&CallDuration=42&SipResponseCode=200",
    "CallSid=CA1&CallStatus=in-progress&AnsweredBy=human",
    "CallSid=CA1&AnsweredBy=machine_end_beep&MachineDetectionDuration=4100",
    "ConferenceSid=CF1&FriendlyName=call-9&StatusCallbackEvent=participant-join&CallSid=CA1&ParticipantLabel=agent&SequenceNumber=3",
    "RecordingSid=RE1&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FRecordings%2FRE1&RecordingStatus=completed&RecordingDuration=61&CallSid=CA1",
    "TranscriptionEvent=transcription-content&CallSid=CA1&Track=inbound_track&Final=true&SequenceId=2&TranscriptionData=%7B%22transcript%22%3A%22hello%22%2C%22confidence%22%3A0.9%7D",
];

/// Every webhook parser on one parameter set; none may panic (errors are fine).
fn parse_all(params: &[(String, String)]) {
    let p = || Params(params);
    let _ = webhook::incoming_call(p());
    let _ = webhook::call_status(9, p());
    let _ = webhook::amd_result(9, p());
    let _ = webhook::conference(p());
    let _ = webhook::recording_status(9, p());
    let _ = webhook::transcription(9, p());
}

/// A structured mutation of a parameter list.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Replace(usize, String),
    Duplicate(usize),
    Rename(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), any::<String>()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), "[A-Za-z]{0,16}").prop_map(|(i, k)| Mutation::Rename(i, k)),
    ]
}

fn mutate(params: &mut Vec<(String, String)>, m: &Mutation) {
    if params.is_empty() {
        return;
    }
    let n = params.len();
    match m {
        Mutation::Drop(i) => {
            params.remove(i % n);
        }
        Mutation::Replace(i, v) => params[i % n].1 = v.clone(),
        Mutation::Duplicate(i) => params.push(params[i % n].clone()),
        Mutation::Rename(i, k) => params[i % n].0 = k.clone(),
    }
}

#[test]
fn fuzz_webhook_parsers_take_any_bytes() {
    proptest!(config(), |(body in prop::collection::vec(any::<u8>(), 0..600))| {
        parse_all(&parse_form(&body));
    });
}

#[test]
fn fuzz_webhook_parsers_take_mutated_real_callbacks() {
    let strategy = (
        0..SAMPLES.len(),
        prop::collection::vec(mutation(), 1..6),
        any::<Option<usize>>(),
    );
    proptest!(config(), |((sample, mutations, cut) in strategy)| {
        let mut params = parse_form(SAMPLES[sample].as_bytes());
        for m in &mutations {
            mutate(&mut params, m);
        }
        parse_all(&params);
        // Cut the raw body anywhere (a truncated delivery).
        let raw = SAMPLES[sample].as_bytes();
        let at = cut.map_or(raw.len(), |c| c % (raw.len() + 1));
        parse_all(&parse_form(&raw[..at]));
    });
}

#[test]
fn fuzz_signature_check_takes_any_request_and_accepts_only_its_own_signature() {
    let strategy = (
        "https://[a-z.]{1,12}/twilio/[0-9]{1,3}/[a-z]{1,8}(\\?[ -~]{0,20})?",
        prop::collection::vec(any::<u8>(), 0..300),
        any::<Option<String>>(),
        any::<bool>(),
        any::<u8>(),
    );
    proptest!(config(), |((url, body, header, json, flip) in strategy)| {
        let kind = if json { BodyKind::Json } else { BodyKind::Form };
        // Any request, any header: an answer, never a panic.
        let _ = validate_request("token", &url, kind, &body, header.as_deref());
        // A form signed the way Twilio signs validates; changing one byte of it does not
        // (unless the change leaves the decoded parameters the same).
        let params = parse_form(&body);
        let sig = compute_signature("token", &url, &params);
        prop_assert!(validate_request("token", &url, BodyKind::Form, &body, Some(&sig)).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = usize::from(flip) % changed.len();
            changed[i] ^= 0x01;
            let same = parse_form(&changed) == params;
            let ok = validate_request("token", &url, BodyKind::Form, &changed, Some(&sig)).is_ok();
            prop_assert!(same || !ok, "a changed body kept its signature");
        }
    });
}

/// What XML 1.0 can carry of a caller's text (TwiML drops the rest).
fn xml_chars(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !(((*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                || *c == '\u{FFFE}'
                || *c == '\u{FFFF}')
        })
        .collect()
}

/// The raw content between `<tag…>` and `</tag>` (the first one).
fn inner<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = xml.find(&format!("<{tag}")).expect("the element");
    let start = open + xml[open..].find('>').expect("its start tag") + 1;
    let end = start
        + xml[start..]
            .find(&format!("</{tag}>"))
            .expect("its end tag");
    &xml[start..end]
}

#[test]
fn fuzz_twiml_stays_well_formed_and_keeps_any_text_as_text() {
    let strategy = (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
    );
    proptest!(config(), |((text, url, name, label) in strategy)| {
        let doc = Response::new()
            .say(Say::new(text.clone()).voice(label.clone()))
            .play(Play::new(url.clone()))
            .enqueue(Enqueue::new(name.clone()).wait_url(url.clone(), Method::Post))
            .dial(Dial::conference(Conference::new(name.clone()).participant_label(label.clone())))
            .dial(Dial::client(label.clone()).caller_id(text.clone()))
            .hangup();
        let xml = doc.to_xml();
        // Well-formed, with exactly the elements the builder made.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut elements = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                    elements += 1
                }
                Ok(_) => {}
                Err(e) => prop_assert!(false, "not well-formed ({e}): {xml}"),
            }
        }
        // Response, Say, Play, Enqueue, Dial, Conference, Dial, Client, Identity, Hangup.
        prop_assert_eq!(elements, 10, "{}", xml);
        // Text comes back as the same text.
        let said = quick_xml::escape::unescape(inner(&xml, "Say")).expect("valid entities");
        prop_assert_eq!(said.into_owned(), xml_chars(&text));
        let played = quick_xml::escape::unescape(inner(&xml, "Play")).expect("valid entities");
        prop_assert_eq!(played.into_owned(), xml_chars(&url));
    });
}

/// Real scenario files, the seeds of the mutations: the project's own, and the shared examples
/// when the shared folder is beside the checkout.
fn scenarios() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    [
        "scenarios/blended-25.toml",
        "../shared/scenarios/predictive-medium.toml",
        "../shared/scenarios/progressive-small.toml",
    ]
    .iter()
    .filter_map(|f| std::fs::read_to_string(format!("{root}/{f}")).ok())
    .collect()
}

#[test]
fn fuzz_scenario_parsing_takes_any_text() {
    proptest!(config(), |(text in any::<String>())| {
        let _ = Scenario::parse(&text);
    });
}

#[test]
fn fuzz_scenario_parsing_takes_mutated_real_scenarios() {
    let scenarios = scenarios();
    assert!(!scenarios.is_empty(), "the project's scenarios are there");
    let strategy = (
        0..scenarios.len(),
        prop::collection::vec((any::<usize>(), any::<usize>(), "[ -~]{0,12}"), 1..4),
    );
    proptest!(config(), |((pick, edits) in strategy)| {
        // Replace a stretch of lines' text with something else (a number, a key, garbage).
        let mut lines: Vec<String> = scenarios[pick].lines().map(str::to_owned).collect();
        for (line, col, with) in &edits {
            let n = lines.len();
            let l = &mut lines[line % n];
            let at = l.char_indices().map(|(i, _)| i).nth(col % (l.chars().count() + 1)).unwrap_or(l.len());
            l.replace_range(at.., with);
        }
        let text = lines.join("\n");
        if let Err(e) = Scenario::parse(&text) {
            // An error names a field and a reason.
            prop_assert!(!e.field().is_empty() && !e.reason().is_empty(), "{e:?}");
        }
    });
}
