//! Events that set a part of the conversation as a whole: application details, the three
//! assessments, the final decision and the summary. Each part is a register holding its
//! value with the `order` of the event that set it; a later-arriving older event leaves
//! it alone (see [`Guard::Newer`]). A decision also sets the status, which nothing but a
//! newer decision changes again.

use mongodb::bson::{self, Bson, DateTime, Document, doc};

use super::{Guard, Projection};
use crate::contract::{AssessmentKind, Body, Event};

/// Where each register lives in the conversation document.
pub fn assessment_field(kind: AssessmentKind) -> &'static str {
    match kind {
        AssessmentKind::IdentityRisk => "identity_risk",
        AssessmentKind::Serviceability => "serviceability",
        AssessmentKind::FraudCheck => "fraud_check",
    }
}

pub fn project(event: &Event, body: &Body) -> Option<Projection> {
    let opt = |v: &Option<String>| v.as_deref().map_or(Bson::Null, Bson::from);
    let num = |v: Option<f64>| v.map_or(Bson::Null, Bson::Double);
    let (field, value, status) = match body {
        Body::ApplicationDetails(d) => (
            "application",
            doc! {
                "application_number": opt(&d.application_number),
                "loan_amount": num(d.loan_amount),
                "loan_purpose": opt(&d.loan_purpose),
                "loan_term": num(d.loan_term),
                "loan_fee": num(d.loan_fee),
                "loan_total_payable": num(d.loan_total_payable),
            },
            None,
        ),
        Body::Assessment(a) => (
            assessment_field(a.kind),
            doc! {
                "decision": opt(&a.decision),
                "severity": opt(&a.severity),
                "final_score": num(a.final_score),
                // A JSON object always converts; the fallback is never used.
                "payload": bson::to_bson(&a.payload).unwrap_or(Bson::Null),
            },
            None,
        ),
        Body::Decision(d) => (
            "decision",
            doc! { "outcome": d.status().to_uppercase() },
            Some(d.status()),
        ),
        Body::Summary(s) => (
            "summary",
            doc! { "purpose": opt(&s.purpose), "facts": s.facts.clone() },
            None,
        ),
        _ => return None,
    };
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
    Some(Projection {
        guard: Guard::Newer { field, order },
        update,
        message: None,
    })
}
