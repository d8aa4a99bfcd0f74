//! Events: an envelope interpreted by its `typ`, with its identity and event time.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use super::envelope::{Envelope, RawEntry};
use super::payload::{
    self, ApplicationDetails, Assessment, AssessmentKind, Decision, NoticePost, Summary,
};

/// Why an entry cannot be turned into an event. The text is what the dead-letter stream
/// records as the reason, so it is written for an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{field} is not {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("payload is not JSON: {0}")]
    PayloadNotJson(String),
    #[error("payload is not an object")]
    PayloadNotObject,
    #[error("field {0} is not UTF-8 text")]
    NotText(String),
    /// A pending entry whose fields are gone: it was trimmed or deleted from the stream.
    #[error("entry was removed from the stream before it was processed")]
    Removed,
    #[error("entry too large: {bytes} bytes, the limit is 262144")]
    TooLarge { bytes: usize },
}

/// The identity of an event for de-duplication: (`conv`, `seq`) when `seq` is present,
/// otherwise the stream entry id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventId {
    Seq(i64),
    Entry(String),
}

impl EventId {
    /// A compact key, unique within one conversation, stored beside the effect.
    pub fn key(&self) -> String {
        match self {
            EventId::Seq(seq) => format!("s{seq}"),
            EventId::Entry(id) => format!("e{id}"),
        }
    }
}

/// The event types of EVENTS.md §3, aliases folded into their canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    ConversationStarted,
    UserInput,
    AssistantResponse,
    ApplicationDetailChanged,
    IdentityRiskAssessment,
    ServiceabilityAssessment,
    FraudCheckAssessment,
    NoticeboardUpdated,
    FinalDecision,
    ConversationSummary,
    /// A type the contract does not name: acknowledged, counted, otherwise ignored.
    Unknown(String),
}

impl EventKind {
    pub fn from_typ(typ: &str) -> Self {
        match typ {
            "conversation_started" => Self::ConversationStarted,
            "user_input" => Self::UserInput,
            "assistant_response" => Self::AssistantResponse,
            "applicationDetail_changed" => Self::ApplicationDetailChanged,
            "identityRisk_assessment" => Self::IdentityRiskAssessment,
            "serviceability_assessment_results" | "credit_assessment_serviceability_result" => {
                Self::ServiceabilityAssessment
            }
            "fraudCheck_assessment" | "fraud_risk.assessment.v1" => Self::FraudCheckAssessment,
            "noticeboard_updated" | "noticeboard_post" => Self::NoticeboardUpdated,
            "final_decision" | "final_credit_decision" => Self::FinalDecision,
            "conversation_summary" => Self::ConversationSummary,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The canonical name, used as a metrics label.
    pub fn name(&self) -> &str {
        match self {
            Self::ConversationStarted => "conversation_started",
            Self::UserInput => "user_input",
            Self::AssistantResponse => "assistant_response",
            Self::ApplicationDetailChanged => "applicationDetail_changed",
            Self::IdentityRiskAssessment => "identityRisk_assessment",
            Self::ServiceabilityAssessment => "serviceability_assessment_results",
            Self::FraudCheckAssessment => "fraudCheck_assessment",
            Self::NoticeboardUpdated => "noticeboard_updated",
            Self::FinalDecision => "final_decision",
            Self::ConversationSummary => "conversation_summary",
            Self::Unknown(typ) => typ,
        }
    }
}

/// Who said a transcript message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Customer,
    Assistant,
}

/// A transcript message carried by `user_input` or `assistant_response`.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub speaker: Speaker,
    pub text: String,
    pub rationale: Option<String>,
    pub answer_input_type: Option<String>,
    pub end_conversation: bool,
}

/// What an event says, checked for the fields its type uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Started {
        application_number: Option<String>,
        customer_id: Option<String>,
    },
    Message(Utterance),
    ApplicationDetails(ApplicationDetails),
    Assessment(Assessment),
    Notice(NoticePost),
    Decision(Decision),
    Summary(Summary),
    /// A type the contract does not know: its payload is not looked at.
    Other,
}

/// One validated event of the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub envelope: Envelope,
    pub kind: EventKind,
    pub id: EventId,
    /// Event time in milliseconds since the Unix epoch (EVENTS.md §2).
    pub at_ms: i64,
    pub body: Body,
}

impl Event {
    pub fn parse(entry: &RawEntry) -> Result<Self, ParseError> {
        let envelope = Envelope::parse(entry)?;
        let kind = EventKind::from_typ(&envelope.typ);
        let id = match envelope.seq {
            Some(seq) => EventId::Seq(seq),
            None => EventId::Entry(envelope.entry_id.clone()),
        };
        let at_ms = event_time(&envelope);
        let payload = &envelope.payload;
        let body = match kind {
            EventKind::ConversationStarted => Body::Started {
                application_number: opt_str(payload, "application_number", "application_number")?
                    .or_else(|| envelope.application_number.clone()),
                customer_id: opt_str(payload, "customer_id", "customer_id")?
                    .or_else(|| envelope.user.clone()),
            },
            EventKind::UserInput | EventKind::AssistantResponse => {
                let speaker = if kind == EventKind::UserInput {
                    Speaker::Customer
                } else {
                    Speaker::Assistant
                };
                Body::Message(Utterance {
                    speaker,
                    text: opt_str(payload, "utterance", "payload.utterance")?.unwrap_or_default(),
                    rationale: opt_str(payload, "rationale", "payload.rationale")?,
                    answer_input_type: opt_str(
                        payload,
                        "answer_input_type",
                        "payload.answer_input_type",
                    )?,
                    end_conversation: match payload.get("end_conversation") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(b)) => *b,
                        Some(_) => {
                            return Err(ParseError::WrongType {
                                field: "payload.end_conversation".to_owned(),
                                expected: "a boolean",
                            });
                        }
                    },
                })
            }
            EventKind::ApplicationDetailChanged => {
                Body::ApplicationDetails(payload::application_details(payload)?)
            }
            EventKind::IdentityRiskAssessment => {
                Body::Assessment(payload::assessment(AssessmentKind::IdentityRisk, payload)?)
            }
            EventKind::ServiceabilityAssessment => Body::Assessment(payload::assessment(
                AssessmentKind::Serviceability,
                payload,
            )?),
            EventKind::FraudCheckAssessment => {
                Body::Assessment(payload::assessment(AssessmentKind::FraudCheck, payload)?)
            }
            EventKind::NoticeboardUpdated => Body::Notice(payload::notice_post(payload)?),
            EventKind::FinalDecision => Body::Decision(payload::decision(payload)?),
            EventKind::ConversationSummary => Body::Summary(payload::summary(payload)?),
            EventKind::Unknown(_) => Body::Other,
        };
        Ok(Self {
            envelope,
            kind,
            id,
            at_ms,
            body,
        })
    }

    pub fn conv(&self) -> &str {
        &self.envelope.conv
    }
}

/// A string field of the payload; absent, null and "" all read as `None`.
fn opt_str(
    payload: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match payload.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ParseError::WrongType {
            field: field.to_owned(),
            expected: "a string",
        }),
    }
}

/// Event time: the first of `payload.created_at`, `payload.timestamp`, `tsp` that reads
/// as an ISO 8601 time, otherwise the millisecond part of the entry id.
fn event_time(envelope: &Envelope) -> i64 {
    let from_payload = |key: &str| envelope.payload.get(key).and_then(Value::as_str);
    [
        from_payload("created_at"),
        from_payload("timestamp"),
        envelope.tsp.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(parse_iso_millis)
    .or_else(|| entry_id_millis(&envelope.entry_id))
    .unwrap_or(0)
}

/// ISO 8601 to epoch milliseconds; a time without a zone is UTC.
pub fn parse_iso_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|naive| naive.and_utc().timestamp_millis())
}

/// The `<ms>` of a stream entry id `<ms>-<n>`.
pub fn entry_id_millis(id: &str) -> Option<i64> {
    id.split('-').next()?.parse().ok()
}

impl Speaker {
    /// As the store keeps it and the API sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Assistant => "assistant",
        }
    }
}
