//! The contract's own fixtures (copied into `tests/fixtures`) and edge cases of EVENTS.md.

use super::*;

#[path = "../../tests/support/fixtures.rs"]
pub(crate) mod fixtures;
use fixtures::{expected, fixture};

fn entry(fields: &[(&str, &str)]) -> RawEntry {
    RawEntry::new(
        "1793696408000-0",
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn every_fixture_conversation_entry_parses() {
    let entries = fixture("conversations.jsonl");
    assert!(entries.len() > 10);
    for (i, (fields, _)) in entries.into_iter().enumerate() {
        let event = Event::parse(&RawEntry::new(format!("1-{i}"), fields));
        let event = event.unwrap_or_else(|e| panic!("entry {i}: {e}"));
        assert!(
            !matches!(event.kind, EventKind::Unknown(_)),
            "entry {i} has an unknown type"
        );
    }
}

#[test]
fn the_older_envelope_reads_like_the_current_one() {
    let legacy: Vec<Event> = fixture("conversations.jsonl")
        .into_iter()
        .enumerate()
        .map(|(i, (fields, _))| Event::parse(&RawEntry::new(format!("1-{i}"), fields)).unwrap())
        .filter(|e| e.envelope.legacy)
        .collect();
    let start = legacy
        .iter()
        .find(|e| e.kind == EventKind::ConversationStarted)
        .expect("the fixtures hold a conversation in the older envelope");
    assert_eq!(start.conv(), "5804f922-8386-8a29-678a-5aa33b6fe507");
    assert_eq!(start.envelope.user.as_deref(), Some("CBE80C46"));
    assert_eq!(start.id, EventId::Seq(1));
    assert_eq!(
        start.body,
        Body::Started {
            application_number: Some("APP-65848-A".into()),
            customer_id: Some("CBE80C46".into()),
        }
    );
    // created_at wins over tsp; without it tsp is the event time.
    let reply = legacy.iter().find(|e| e.id == EventId::Seq(2)).unwrap();
    assert_eq!(
        reply.at_ms,
        parse_iso_millis("2026-11-03T09:14:05.000Z").unwrap()
    );
    let identity = legacy.iter().find(|e| e.id == EventId::Seq(7)).unwrap();
    assert_eq!(
        identity.at_ms,
        parse_iso_millis("2026-11-03T09:14:33.000Z").unwrap()
    );
    let messages = legacy
        .iter()
        .filter(|e| matches!(e.body, Body::Message(_)))
        .count();
    assert_eq!(messages, 5);
}

#[test]
fn every_bad_fixture_is_refused_with_its_reason() {
    let bad = fixture("bad.jsonl");
    assert!(!bad.is_empty());
    for (fields, line) in bad {
        let expected = line["expect_reason"].as_str().unwrap();
        let err = Event::parse(&RawEntry::new("1-0", fields)).unwrap_err();
        assert!(
            err.to_string().starts_with(expected),
            "expected {expected:?}, got {err:?}"
        );
    }
}

#[test]
fn empty_strings_count_as_absent() {
    let e = Event::parse(&entry(&[
        ("conv", ""),
        ("cid", "c1"),
        ("typ", "user_input"),
        ("seq", ""),
        ("payload", ""),
    ]))
    .unwrap();
    assert_eq!(e.conv(), "c1");
    assert_eq!(e.id, EventId::Entry("1793696408000-0".into()));
    assert!(e.envelope.payload.is_empty());
}

#[test]
fn aliases_fold_into_canonical_types() {
    for (typ, kind) in [
        (
            "credit_assessment_serviceability_result",
            EventKind::ServiceabilityAssessment,
        ),
        ("fraud_risk.assessment.v1", EventKind::FraudCheckAssessment),
        ("noticeboard_post", EventKind::NoticeboardUpdated),
        ("final_credit_decision", EventKind::FinalDecision),
    ] {
        assert_eq!(EventKind::from_typ(typ), kind);
    }
    assert_eq!(
        EventKind::from_typ("brand_new_thing"),
        EventKind::Unknown("brand_new_thing".into())
    );
}

#[test]
fn event_time_falls_back_in_contract_order() {
    let at = |payload: &str, tsp: Option<&str>| {
        let mut fields = vec![("conv", "c"), ("typ", "user_input"), ("payload", payload)];
        if let Some(t) = tsp {
            fields.push(("tsp", t));
        }
        Event::parse(&entry(&fields)).unwrap().at_ms
    };
    let ms = |s| parse_iso_millis(s).unwrap();
    assert_eq!(
        at(
            r#"{"created_at":"2026-01-01T00:00:01Z","timestamp":"2026-01-01T00:00:02Z"}"#,
            None
        ),
        ms("2026-01-01T00:00:01Z")
    );
    assert_eq!(
        at(
            r#"{"timestamp":"2026-01-01T00:00:02Z"}"#,
            Some("2026-01-01T00:00:03Z")
        ),
        ms("2026-01-01T00:00:02Z")
    );
    assert_eq!(
        at("{}", Some("2026-01-01T00:00:03")),
        ms("2026-01-01T00:00:03Z")
    );
    assert_eq!(at("{}", None), 1_793_696_408_000);
    // An unreadable time is passed over, not fatal.
    assert_eq!(at(r#"{"created_at":"yesterday"}"#, None), 1_793_696_408_000);
}

#[test]
fn wrongly_typed_payload_fields_are_refused() {
    let err = Event::parse(&entry(&[
        ("conv", "c"),
        ("typ", "user_input"),
        ("payload", r#"{"utterance": 42}"#),
    ]))
    .unwrap_err();
    assert_eq!(err.to_string(), "payload.utterance is not a string");
}

#[test]
fn html_in_an_utterance_is_kept_as_text() {
    let e = Event::parse(&entry(&[
        ("conv", "c"),
        ("typ", "user_input"),
        ("payload", r#"{"utterance": "<script>alert(1)</script>"}"#),
    ]))
    .unwrap();
    let Body::Message(m) = e.body else { panic!() };
    assert_eq!(m.text, "<script>alert(1)</script>");
}

fn parsed_fixture_events() -> Vec<Event> {
    fixture("conversations.jsonl")
        .into_iter()
        .enumerate()
        .map(|(i, (fields, _))| Event::parse(&RawEntry::new(format!("1-{i}"), fields)).unwrap())
        .collect()
}

/// Everything `expected.json` says of a conversation can be read off its typed events.
#[test]
fn typed_payloads_carry_what_the_expected_projections_show() {
    let events = parsed_fixture_events();
    for want in expected() {
        let id = want["conversation_id"].as_str().unwrap();
        let of_conv: Vec<&Event> = events.iter().filter(|e| e.conv() == id).collect();
        let details = of_conv
            .iter()
            .filter_map(|e| match &e.body {
                Body::ApplicationDetails(d) => Some(d),
                _ => None,
            })
            .next_back()
            .unwrap();
        assert_eq!(
            details.application_number.as_deref(),
            want["application_number"].as_str()
        );
        assert_eq!(details.loan_amount, want["loan_amount"].as_f64());
        assert_eq!(
            details.loan_purpose.as_deref(),
            want["loan_purpose"].as_str()
        );
        let customer = details.customer.as_ref().unwrap();
        assert_eq!(
            customer.customer_id.as_deref(),
            want["customer_id"].as_str()
        );
        assert_eq!(
            customer.full_name().as_deref(),
            want["customer_full_name"].as_str()
        );
        assert_eq!(
            customer.email_address.as_deref(),
            want["customer_email"].as_str()
        );

        let decision = of_conv.iter().find_map(|e| match e.body {
            Body::Decision(d) => Some(d),
            _ => None,
        });
        assert_eq!(
            decision.map(|d| crate::api::Status::from(d).as_str()),
            want["status_if_decided"].as_str()
        );
        let named = decision.map(|d| format!("{d:?}").to_uppercase());
        assert_eq!(named.as_deref(), want["final_decision"].as_str());

        let board = want["noticeboard"].as_object().unwrap();
        for (agent_name, entry) in board {
            let posts = of_conv
                .iter()
                .filter(|e| matches!(&e.body, Body::Notice(p) if &p.agent_name == agent_name))
                .count();
            assert_eq!(
                posts as u64,
                entry["versions"].as_u64().unwrap(),
                "{id} {agent_name}"
            );
        }
        let all_posts = of_conv
            .iter()
            .filter(|e| matches!(e.body, Body::Notice(_)))
            .count();
        let versions: u64 = board
            .values()
            .map(|e| e["versions"].as_u64().unwrap())
            .sum();
        assert_eq!(
            all_posts as u64, versions,
            "{id}: no post outside the expected entries"
        );
    }
}

#[test]
fn assessments_keep_their_whole_payload_and_a_summary() {
    // The last one is the older-envelope conversation's: severity LOW, score 2.
    let fraud = events_of("fraudCheck_assessment");
    let Body::Assessment(a) = &fraud.last().unwrap().body else {
        panic!()
    };
    assert_eq!(a.kind, AssessmentKind::FraudCheck);
    assert_eq!(a.severity.as_deref(), Some("LOW"));
    assert_eq!(a.final_score, Some(2.0));
    assert!(a.payload.contains_key("categories"));
    let identity = events_of("identityRisk_assessment");
    let Body::Assessment(a) = &identity.last().unwrap().body else {
        panic!()
    };
    assert_eq!(
        (a.kind, a.decision.as_deref()),
        (AssessmentKind::IdentityRisk, Some("PASS"))
    );
}

fn events_of(typ: &str) -> Vec<Event> {
    parsed_fixture_events()
        .into_iter()
        .filter(|e| e.envelope.typ == typ)
        .collect()
}

fn parse_payload(typ: &str, payload: &str) -> Result<Event, ParseError> {
    Event::parse(&entry(&[
        ("conv", "c"),
        ("typ", typ),
        ("agt", "a"),
        ("payload", payload),
    ]))
}

#[test]
fn older_payload_spellings_are_read() {
    let e = parse_payload(
        "noticeboard_post",
        r#"{"agent_name":"a::T","content":"old"}"#,
    )
    .unwrap();
    assert!(matches!(e.body, Body::Notice(ref p) if p.content == "old" && p.at_ms.is_none()));
    let e = parse_payload("final_credit_decision", r#"{"outcome":"referred"}"#).unwrap();
    assert_eq!(e.body, Body::Decision(Decision::Referred));
    let e = parse_payload(
        "conversation_summary",
        r#"{"conversation_purpose":"Rent","conversation_facts":["a","b"]}"#,
    )
    .unwrap();
    assert_eq!(
        e.body,
        Body::Summary(Summary {
            purpose: Some("Rent".into()),
            facts: vec!["a".into(), "b".into()],
        })
    );
    // Numbers sent as text are read as numbers.
    let e = parse_payload("applicationDetail_changed", r#"{"loanAmount":"750.5"}"#).unwrap();
    assert!(matches!(e.body, Body::ApplicationDetails(ref d) if d.loan_amount == Some(750.5)));
}

#[test]
fn wrongly_typed_or_missing_payload_fields_name_the_field() {
    for (typ, payload, reason) in [
        (
            "final_decision",
            r#"{"decision":"MAYBE"}"#,
            "payload.decision is not APPROVED, DECLINED or REFERRED",
        ),
        ("final_decision", "{}", "missing payload.decision"),
        (
            "applicationDetail_changed",
            r#"{"loanAmount":"lots"}"#,
            "payload.loanAmount is not a number",
        ),
        (
            "applicationDetail_changed",
            r#"{"customer":"Ann"}"#,
            "payload.customer is not an object",
        ),
        (
            "applicationDetail_changed",
            r#"{"customer":{"date_of_birth":"22/07/1960"}}"#,
            "payload.customer.date_of_birth is not a date (YYYY-MM-DD)",
        ),
        (
            "noticeboard_updated",
            r#"{"post":"hi"}"#,
            "missing payload.agent_name",
        ),
        (
            "conversation_summary",
            r#"{"facts":[1]}"#,
            "payload.facts is not a list of strings",
        ),
        (
            "fraudCheck_assessment",
            r#"{"final_score":"high"}"#,
            "payload.final_score is not a number",
        ),
    ] {
        let err = parse_payload(typ, payload).unwrap_err();
        assert_eq!(err.to_string(), reason, "{typ} {payload}");
    }
}
