use mongodb::bson::doc;

use super::*;
use crate::contract::{Event, RawEntry};

fn event(fields: &[(&str, &str)]) -> Event {
    let fields = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Event::parse(&RawEntry::new("1793696408000-0", fields)).unwrap()
}

#[test]
fn a_customer_message_is_pushed_in_order_and_counted() {
    let e = event(&[
        ("conv", "c1"),
        ("typ", "user_input"),
        ("agt", "broker"),
        ("seq", "3"),
        (
            "payload",
            r#"{"utterance":"I need $750","created_at":"2026-11-03T09:00:15Z"}"#,
        ),
    ]);
    let p = plan(&e, &Limits::default()).expect("applied");
    let push = p
        .update
        .get_document("$push")
        .unwrap()
        .get_document("messages")
        .unwrap();
    assert_eq!(
        push.get_document("$sort").unwrap(),
        &doc! { "seq": 1, "at": 1, "entry_id": 1 }
    );
    assert_eq!(push.get_i64("$slice").unwrap(), -2000);
    let stored = push.get_array("$each").unwrap()[0].as_document().unwrap();
    assert_eq!(stored.get_str("speaker").unwrap(), "customer");
    assert_eq!(stored.get_str("text").unwrap(), "I need $750");
    assert_eq!(stored.get_i64("seq").unwrap(), 3);
    assert_eq!(
        p.update.get_document("$inc").unwrap(),
        &doc! { "message_count": 1_i64 }
    );
    let message = p.message.unwrap();
    assert_eq!(message.at_ms, 1_793_696_415_000);
}

#[test]
fn an_assistant_message_keeps_its_rationale() {
    let e = event(&[
        ("conv", "c1"),
        ("typ", "assistant_response"),
        ("agt", "broker"),
        ("payload", r#"{"utterance":"Hi","rationale":"Greeting"}"#),
    ]);
    let p = plan(
        &e,
        &Limits {
            transcript: 10,
            ..Limits::default()
        },
    )
    .expect("applied");
    let message = p.message.unwrap();
    assert_eq!(message.speaker, crate::api::Speaker::Assistant);
    assert_eq!(message.rationale.as_deref(), Some("Greeting"));
    // Without created_at the time is the entry id's.
    assert_eq!(message.at_ms, 1_793_696_408_000);
}

#[test]
fn a_start_fills_in_without_wiping() {
    let e = event(&[
        ("cid", "c1"),
        ("typ", "conversation_started"),
        ("agt", "broker"),
        ("uid", "C1"),
        ("aid", "APP-1"),
        ("dat", "{}"),
    ]);
    let p = plan(&e, &Limits::default()).expect("applied");
    assert_eq!(
        p.update.get_document("$set").unwrap(),
        &doc! { "application_number": "APP-1", "customer_id": "C1" }
    );
    assert!(
        p.update
            .get_document("$min")
            .unwrap()
            .contains_key("started_at")
    );
    assert_eq!(
        p.update
            .get_document("$setOnInsert")
            .unwrap()
            .get_str("status")
            .unwrap(),
        "active"
    );
}

#[test]
fn assessments_replace_their_register_only_when_newer() {
    let fraud = event(&[
        ("conv", "c"),
        ("typ", "fraud_risk.assessment.v1"),
        ("agt", "f"),
        ("seq", "12"),
        (
            "payload",
            r#"{"severity":"LOW","final_score":2,"categories":[]}"#,
        ),
    ]);
    let p = plan(&fraud, &Limits::default()).expect("applied");
    assert_eq!(
        p.guard,
        Guard::Newer {
            field: "fraud_check",
            order: 12
        }
    );
    let register = p
        .update
        .get_document("$set")
        .unwrap()
        .get_document("fraud_check")
        .unwrap();
    assert_eq!(register.get_str("severity").unwrap(), "LOW");
    assert_eq!(register.get_f64("final_score").unwrap(), 2.0);
    assert!(
        register
            .get_document("payload")
            .unwrap()
            .contains_key("categories")
    );
}

#[test]
fn a_decision_sets_the_status_and_a_post_adds_a_version_to_its_entry() {
    let decided = event(&[
        ("conv", "c"),
        ("typ", "final_credit_decision"),
        ("agt", "b"),
        ("payload", r#"{"outcome":"REFERRED"}"#),
    ]);
    let p = plan(&decided, &Limits::default()).expect("applied");
    let set = p.update.get_document("$set").unwrap();
    assert_eq!(set.get_str("status").unwrap(), "referred");
    assert!(
        !p.update
            .get_document("$setOnInsert")
            .unwrap()
            .contains_key("status")
    );
    // Without seq, the event time orders registers.
    assert_eq!(
        p.guard,
        Guard::Newer {
            field: "decision",
            order: 1_793_696_408_000
        }
    );

    let post = event(&[
        ("conv", "c"),
        ("typ", "noticeboard_post"),
        ("agt", "a"),
        ("seq", "4"),
        ("payload", r#"{"agent_name":"a.b::Notes","content":"x"}"#),
    ]);
    let p = plan(&post, &Limits::default()).expect("applied");
    assert_eq!(p.guard, Guard::Once("s4".into()));
    let push = p.update.get_document("$push").unwrap();
    let versions = push
        .get_document("noticeboard.a%2Eb::Notes.versions")
        .unwrap();
    assert_eq!(versions.get_i64("$slice").unwrap(), -50);
    let new = event(&[("conv", "c"), ("typ", "sentiment_scored"), ("agt", "x")]);
    assert_eq!(plan(&new, &Limits::default()), None);
}
