//! The contract's own fixtures (`shared/contract/fixtures`) and edge cases of EVENTS.md.

use std::path::PathBuf;

use serde_json::Value;

use super::*;

fn fixtures_dir() -> PathBuf {
    std::env::var_os("CONTRACT_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/contract/fixtures"),
        PathBuf::from,
    )
}

/// Each line of a fixture file as (fields, the whole JSON line).
fn fixture(name: &str) -> Vec<(Vec<(String, String)>, Value)> {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            let fields = value["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (fields, value)
        })
        .collect()
}

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
