use super::*;
use proptest::prelude::*;
use serde_json::json;

fn field(key: &str, kind: PropertyKind, required: bool) -> ScriptField {
    ScriptField {
        key: key.into(),
        label: key.to_uppercase(),
        kind,
        choices: if kind == PropertyKind::Choice {
            vec!["yes".into(), "no".into()]
        } else {
            vec![]
        },
        required,
        property: None,
    }
}

/// Greeting (disclosure) → Qualify (required choice `interested`; "no" branches to Goodbye,
/// else Offer) → Offer (required number `seats`) → Goodbye (final).
fn three_step() -> ScriptBody {
    ScriptBody {
        steps: vec![
            Step {
                key: "greet".into(),
                title: "Greeting".into(),
                text: "Hello {{contact.first_name}}, this is {{agent.name}} from {{client.name}}."
                    .into(),
                disclosures: vec![Disclosure {
                    key: "recorded".into(),
                    text: "This call is recorded.".into(),
                }],
                next: Some("qualify".into()),
                ..Default::default()
            },
            Step {
                key: "qualify".into(),
                title: "Qualify".into(),
                fields: vec![field("interested", PropertyKind::Choice, true)],
                branches: vec![Branch {
                    field: "interested".into(),
                    equals: "no".into(),
                    to: "bye".into(),
                }],
                next: Some("offer".into()),
                ..Default::default()
            },
            Step {
                key: "offer".into(),
                title: "Offer".into(),
                text: "Your plan: {{contact.properties.plan}}".into(),
                fields: vec![field("seats", PropertyKind::Number, true)],
                next: Some("bye".into()),
                ..Default::default()
            },
            Step {
                key: "bye".into(),
                title: "Goodbye".into(),
                ..Default::default()
            },
        ],
    }
}

fn t0() -> DateTime<Utc> {
    "2026-03-02T15:00:00Z".parse().unwrap()
}

#[test]
fn a_valid_branching_script_passes_validation() {
    assert_eq!(three_step().validate(), Ok(()));
}

#[test]
fn a_branch_to_a_missing_step_is_refused_naming_the_step_and_field() {
    let mut s = three_step();
    s.steps[1].branches[0].to = "nowhere".into();
    let e = s.validate().unwrap_err();
    assert_eq!(e.field, "steps[1].branches[0].to");
    assert!(
        e.reason.contains("Qualify") && e.reason.contains("nowhere"),
        "{e:?}"
    );
}

#[test]
fn every_step_must_be_reachable() {
    let mut s = three_step();
    s.steps[1].branches.clear();
    s.steps[1].next = Some("bye".into());
    let e = s.validate().unwrap_err();
    assert_eq!(e.field, "steps[2]");
    assert!(e.reason.contains("Offer"), "{e:?}");
}

#[test]
fn a_script_needs_a_final_step() {
    let mut s = three_step();
    s.steps[3].next = Some("greet".into());
    assert_eq!(s.validate().unwrap_err().field, "steps");
}

#[test]
fn a_branch_must_ask_about_a_field_of_its_step() {
    let mut s = three_step();
    s.steps[1].branches[0].field = "seats".into();
    assert_eq!(
        s.validate().unwrap_err().field,
        "steps[1].branches[0].field"
    );
}

#[test]
fn merge_fields_fill_in_and_missing_values_show_a_placeholder() {
    let mut m = MergeValues::default();
    m.values.insert("contact.first_name".into(), "Ann".into());
    m.values.insert("agent.name".into(), "Bo".into());
    assert_eq!(
        render(&three_step().steps[0].text, &m),
        "Hello Ann, this is Bo from [client.name]."
    );
    assert_eq!(render("{{ unclosed", &m), "{{ unclosed");
}

#[test]
fn the_run_cannot_move_past_a_step_until_its_disclosure_is_acknowledged() {
    let s = three_step();
    let mut r = Run::start(&s);
    assert_eq!(
        r.advance(&s),
        Err(RunError::Incomplete(vec!["recorded".into()]))
    );
    r.acknowledge(&s, "recorded", t0()).unwrap();
    r.advance(&s).unwrap();
    assert_eq!(r.step, "qualify");
    assert_eq!(r.acknowledged["recorded"], t0());
}

#[test]
fn the_run_cannot_move_past_a_required_field_and_answers_are_typed() {
    let s = three_step();
    let mut r = Run::start(&s);
    r.acknowledge(&s, "recorded", t0()).unwrap();
    r.advance(&s).unwrap();
    assert_eq!(
        r.advance(&s),
        Err(RunError::Incomplete(vec!["interested".into()]))
    );
    let bad = r
        .answer(&s, "interested", &json!("maybe"), None)
        .unwrap_err();
    assert!(matches!(bad, RunError::Invalid(ref e) if e.field == "interested"));
    r.answer(&s, "interested", &json!("Yes"), None).unwrap();
    r.advance(&s).unwrap();
    assert_eq!(r.step, "offer", "no branch matched: the default next step");
    assert!(r.answer(&s, "seats", &json!("many"), None).is_err());
    r.answer(&s, "seats", &json!("25"), None).unwrap();
    assert_eq!(r.answers["seats"], json!(25.0));
    r.advance(&s).unwrap();
    r.advance(&s).unwrap();
    assert!(r.finished);
    assert_eq!(r.path, vec!["greet", "qualify", "offer", "bye"]);
    assert_eq!(r.advance(&s), Err(RunError::Finished));
}

#[test]
fn a_branch_answer_picks_the_next_step() {
    let s = three_step();
    let mut r = Run::start(&s);
    r.acknowledge(&s, "recorded", t0()).unwrap();
    r.advance(&s).unwrap();
    r.answer(&s, "interested", &json!("no"), None).unwrap();
    r.advance(&s).unwrap();
    assert_eq!(r.step, "bye");
}

#[test]
fn only_fields_and_disclosures_of_the_current_step_can_be_done() {
    let s = three_step();
    let mut r = Run::start(&s);
    assert!(r.answer(&s, "seats", &json!(3), None).is_err());
    assert!(r.acknowledge(&s, "nope", t0()).is_err());
}

/// A run request drawn at random: answer a field (with a value of any shape), acknowledge a
/// disclosure, or try to move on.
#[derive(Debug, Clone)]
enum Req {
    Answer(&'static str, Value),
    Ack(&'static str),
    Advance,
}

fn any_req() -> impl Strategy<Value = Req> {
    let value = prop_oneof![
        Just(json!("yes")),
        Just(json!("no")),
        Just(json!("maybe")),
        Just(json!(3)),
        Just(json!("12")),
        Just(json!(true)),
        Just(json!(null)),
        Just(json!("")),
    ];
    prop_oneof![
        (prop_oneof![Just("interested"), Just("seats")], value)
            .prop_map(|(f, v)| Req::Answer(f, v)),
        Just(Req::Ack("recorded")),
        Just(Req::Advance),
        Just(Req::Advance),
    ]
}

proptest! {
    /// No sequence of run requests reaches a step whose predecessors' required fields and
    /// disclosures are incomplete, and every stored answer has its field's type.
    #[test]
    fn no_run_skips_a_required_task_and_every_answer_has_its_fields_type(
        reqs in proptest::collection::vec(any_req(), 0..40)
    ) {
        let s = three_step();
        let mut r = Run::start(&s);
        for q in reqs {
            let _ = match q {
                Req::Answer(f, v) => r.answer(&s, f, &v, None).map(|_| ()),
                Req::Ack(k) => r.acknowledge(&s, k, t0()),
                Req::Advance => r.advance(&s),
            };
            for done in &r.path {
                let step = s.step(done).unwrap();
                for f in step.fields.iter().filter(|f| f.required) {
                    prop_assert!(r.answers.contains_key(&f.key), "{done} left without {}", f.key);
                }
                for d in &step.disclosures {
                    prop_assert!(r.acknowledged.contains_key(&d.key));
                }
            }
            for (k, v) in &r.answers {
                let f = s.steps.iter().flat_map(|st| &st.fields).find(|f| &f.key == k).unwrap();
                let typed = match f.kind {
                    PropertyKind::Number => v.is_number(),
                    PropertyKind::Choice => v.as_str().is_some_and(|c| f.choices.iter().any(|x| x == c)),
                    _ => v.is_string(),
                };
                prop_assert!(typed, "{k} = {v}");
            }
        }
    }
}
