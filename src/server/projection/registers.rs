//! Events that set a part of the conversation as a whole: application details, the three
//! assessments, the final decision and the summary. Each part is a register holding its
//! value with the `order` of the event that set it; a later-arriving older event leaves
//! it alone (see [`Guard::Newer`]). A decision also sets the status, which nothing but a
//! newer decision changes again.
//!
//! A part that needs nothing but to be shown is kept whole, in the contract's own type,
//! under `parts.<name>` ([`part`]): the store hands it to the view as it is, so a new
//! event type of this kind is a line here, its type in the contract, and its view
//! (CONTRIBUTING.md, "Adding an event type").

use mongodb::bson::{self, Bson, DateTime, Document, doc};
use serde::Serialize;

use super::{Guard, Projection};
use crate::api::Status;
use crate::contract::{ApplicationDetails, Assessment, AssessmentKind, Body, Decision, Event};

/// The effect of an event that sets a part of the conversation; `None` for other events.
pub fn project(event: &Event) -> Option<Projection> {
    Some(match &event.body {
        Body::ApplicationDetails(d) => application(event, d),
        Body::Assessment(a) => assessment(event, a),
        Body::Decision(d) => decision(event, *d),
        Body::Summary(summary) => part(event, "parts.summary", summary),
        _ => return None,
    })
}

/// Where parts kept whole live in a conversation document: `parts.<name>`.
pub const PARTS: &str = "parts";

/// Parts stored elsewhere by older versions, and where they live now: moved once at start
/// (`Store::move_field`).
pub const MOVED: &[(&str, &str)] = &[("summary", "parts.summary")];

/// Where each register lives in the conversation document.
pub fn assessment_field(kind: AssessmentKind) -> &'static str {
    match kind {
        AssessmentKind::IdentityRisk => "identity_risk",
        AssessmentKind::Serviceability => "serviceability",
        AssessmentKind::FraudCheck => "fraud_check",
    }
}

fn opt(v: &Option<String>) -> Bson {
    v.as_deref().map_or(Bson::Null, Bson::from)
}

fn num(v: Option<f64>) -> Bson {
    v.map_or(Bson::Null, Bson::Double)
}

fn application(event: &Event, d: &ApplicationDetails) -> Projection {
    let value = doc! {
        "application_number": opt(&d.application_number),
        "loan_amount": num(d.loan_amount),
        "loan_purpose": opt(&d.loan_purpose),
        "loan_term": num(d.loan_term),
        "loan_fee": num(d.loan_fee),
        "loan_total_payable": num(d.loan_total_payable),
    };
    let mut projection = register(event, "application", value, None);
    if let Some(app) = &d.application_number {
        super::add_search_words(&mut projection.update, app);
    }
    projection
}

fn assessment(event: &Event, a: &Assessment) -> Projection {
    let value = doc! {
        "decision": opt(&a.decision),
        "severity": opt(&a.severity),
        "final_score": num(a.final_score),
        // A JSON object always converts; the fallback is never used.
        "payload": bson::to_bson(&a.payload).unwrap_or(Bson::Null),
    };
    register(event, assessment_field(a.kind), value, None)
}

fn decision(event: &Event, d: Decision) -> Projection {
    let value = doc! { "outcome": d.as_str() };
    register(event, "decision", value, Some(Status::from(d).as_str()))
}

/// Keeps `value` whole at `field` (`parts.<name>`), if newer.
fn part(event: &Event, field: &'static str, value: &impl Serialize) -> Projection {
    debug_assert!(field.starts_with("parts."), "a part lives under {PARTS}");
    // A contract type is a struct of plain fields: it always converts; the fallback
    // (an empty part) is never used.
    let value = bson::to_document(value).unwrap_or_default();
    register(event, field, value, None)
}

/// Sets register `field` to `value` (and the status, for a decision) if newer.
fn register(
    event: &Event,
    field: &'static str,
    value: Document,
    status: Option<&str>,
) -> Projection {
    let order = event.envelope.seq.unwrap_or(event.at_ms);
    let at = DateTime::from_millis(event.at_ms);
    let mut register = value;
    register.insert("order", order);
    register.insert("at", at);
    let mut set = doc! { field: register };
    let mut on_insert = doc! { "message_count": 0_i64 };
    match status {
        Some(status) => {
            set.insert("status", status);
        }
        None => {
            on_insert.insert("status", "active");
        }
    }
    let update: Document = doc! {
        "$set": set,
        "$min": { "started_at": at },
        "$max": { "last_activity_at": at },
        "$setOnInsert": on_insert,
    };
    Projection {
        guard: Guard::Newer { field, order },
        update,
        message: None,
    }
}
