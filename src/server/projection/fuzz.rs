//! The contract fuzzed (issue 18): 110,000 random and mutated entries — missing and extra
//! fields, huge values, deeply nested JSON, numbers out of range, both envelopes, bytes
//! that are not UTF-8 — go through parsing and projection. None may panic; each is
//! projected, ignored as a type the contract does not know, or refused with a reason.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::customer::CustomerFacts;
use super::{Limits, plan};
use crate::contract::tests::fixtures;
use crate::contract::{Event, RawEntry};

/// The contract's field names (both envelopes), and a few it does not know.
const FIELDS: &[&str] = &[
    "conv", "typ", "agt", "usr", "seq", "cls", "cause", "c_seq", "rec", "payload", "cid", "uid",
    "aid", "tsp", "dat", "extra", "",
];

/// Every type name of the contract, old spellings too, and some it does not know.
fn types() -> Vec<&'static str> {
    let known = crate::contract::TYPES.iter().map(|(name, _)| *name);
    known.chain(["unheard_of", ""]).collect()
}

/// Payload fields the projectors read, so that random values reach them.
const PAYLOAD_FIELDS: &[&str] = &[
    "utterance",
    "rationale",
    "created_at",
    "timestamp",
    "answer_input_type",
    "end_conversation",
    "additional_data",
    "application_number",
    "applicationNumber",
    "customer_id",
    "customer",
    "loanAmount",
    "loanTerm",
    "loanFee",
    "decision",
    "outcome",
    "severity",
    "final_score",
    "agent_name",
    "post",
    "content",
    "purpose",
    "facts",
    "conversation_purpose",
    "conversation_facts",
    "first_name",
    "last_name",
    "email",
    "preferred_name",
];

/// Values that break assumptions: out-of-range numbers, odd times, huge and empty text.
fn edge_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(-1e-308)),
        Just(json!("")),
        Just(json!("2026-13-45T99:99:99Z")),
        Just(json!("+275760-09-13T00:00:00Z")),
        Just(json!("-000001-01-01T00:00:00")),
        Just(json!("1970-01-01T00:00:00")),
        Just(json!("APPROVED")),
        Just(json!("high")),
        Just(json!("::")),
        Just(json!("agent::")),
        Just(json!("x".repeat(5_000))),
        Just(nested(20)),
    ]
}

/// JSON nested `depth` arrays deep (serde_json refuses past 128).
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        edge_value(),
    ];
    leaf.prop_recursive(4, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(PAYLOAD_FIELDS), inner), 0..6).prop_map(
                |pairs| Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

/// A payload as a producer might serialise it, or a broken one: cut short, deeply nested
/// (serde_json refuses past 128 levels), or over the contract's size limit.
fn payload_text() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => any_json().prop_map(|v| v.to_string()),
        10 => any_json().prop_map(|v| {
            let text = v.to_string();
            text.chars().take(text.chars().count() / 2).collect()
        }),
        10 => ".{0,60}",
        4 => (100usize..400).prop_map(|depth| format!("{}{}", "{\"utterance\":".repeat(depth), "1")),
        4 => (100usize..400).prop_map(|depth| nested(depth).to_string()),
        1 => prop_oneof![Just(1_000usize), Just(262_145)]
            .prop_map(|n| json!({ "utterance": "x".repeat(n) }).to_string()),
    ]
}

fn field_value(name: &'static str) -> BoxedStrategy<String> {
    match name {
        "typ" => prop::sample::select(types())
            .prop_map(str::to_owned)
            .boxed(),
        "seq" | "c_seq" => prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("99999999999999999999999".to_owned()),
            Just("1.5".to_owned()),
            Just("-0".to_owned()),
            ".{0,8}",
        ]
        .boxed(),
        "payload" | "dat" => payload_text().boxed(),
        _ => prop_oneof![4 => ".{0,24}", 1 => edge_value().prop_map(|v| v.to_string())].boxed(),
    }
}

/// An entry of random fields, each from the contract's names most of the time.
fn entry() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        prop::sample::select(FIELDS).prop_flat_map(|name| {
            let name = if name.is_empty() { "unnamed" } else { name };
            field_value(name).prop_map(move |value| (name.to_owned(), value))
        }),
        0..12,
    )
}

/// A fixture entry with one field removed, replaced or added.
fn mutated_fixture() -> impl Strategy<Value = Vec<(String, String)>> {
    let fixtures = fixtures::fixture_fields("conversations.jsonl");
    (
        prop::sample::select(fixtures),
        prop::sample::select(FIELDS),
        0..3u8,
    )
        .prop_flat_map(|(fields, name, how)| {
            let name = if name.is_empty() { "unnamed" } else { name };
            field_value(name).prop_map(move |value| {
                let mut fields = fields.clone();
                match how {
                    0 => fields.retain(|(k, _)| k != name),
                    1 => match fields.iter_mut().find(|(k, _)| k == name) {
                        Some(field) => field.1 = value,
                        None => fields.push((name.to_owned(), value)),
                    },
                    _ => fields.push((format!("{name}_extra"), value)),
                }
                fields
            })
        })
}

/// Parses and projects one entry: it must be projected, unknown, or refused with a reason.
fn accounted_for(fields: Vec<(String, String)>) -> Result<(), TestCaseError> {
    let raw = RawEntry::new("1764230400000-0", fields);
    match Event::parse(&raw) {
        Ok(event) => {
            let _ = CustomerFacts::of(&event);
            if let Some(projection) = plan(&event, &Limits::default()) {
                prop_assert!(!projection.update.is_empty());
            }
        }
        Err(reason) => prop_assert!(!reason.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_entries_are_projected_ignored_or_refused(fields in entry()) {
        accounted_for(fields)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixture_entries_are_projected_ignored_or_refused(fields in mutated_fixture()) {
        accounted_for(fields)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Field values as Redis holds them: any bytes, so not always UTF-8.
    #[test]
    fn entries_of_any_bytes_are_read_or_refused_as_not_text(
        fields in prop::collection::vec(
            (prop::sample::select(FIELDS), prop::collection::vec(any::<u8>(), 0..64)),
            1..8,
        )
    ) {
        let entry = redis::streams::StreamId {
            id: "1764230400000-0".to_owned(),
            map: fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), redis::Value::BulkString(v)))
                .collect(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        };
        match crate::server::ingest::raw_entry(&entry) {
            Ok(raw) => accounted_for(raw.fields)?,
            Err(reason) => prop_assert!(!reason.to_string().is_empty()),
        }
    }
}
