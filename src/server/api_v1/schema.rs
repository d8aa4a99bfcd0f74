//! The shapes `/api/v1` answers with: snake_case names, RFC 3339 times, documented and
//! kept stable whatever the browser's own wire (`crate::api`) becomes. Each is made from
//! the projection's type by a `From`, and described to the OpenAPI document by its
//! derive.

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{self, Arrival, Status};

/// `ms` (since the Unix epoch) as RFC 3339 in UTC, with milliseconds.
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Where a conversation stands (EVENTS.md §4).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Active,
    Paused,
    SoftEnd,
    HardEnd,
    Approved,
    Declined,
    Referred,
}

impl From<Status> for ConversationStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => Self::Active,
            Status::Paused => Self::Paused,
            Status::SoftEnd => Self::SoftEnd,
            Status::HardEnd => Self::HardEnd,
            Status::Approved => Self::Approved,
            Status::Declined => Self::Declined,
            Status::Referred => Self::Referred,
        }
    }
}

/// One conversation as the list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationSummary {
    pub id: String,
    pub application_number: Option<String>,
    pub customer_id: Option<String>,
    /// The customer's full name as their profile has it, once known.
    pub customer_name: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub status: ConversationStatus,
    pub started_at: Option<String>,
    /// The newest event time seen; the list's order (newest first).
    pub last_activity_at: Option<String>,
    pub message_count: i64,
    /// Grows with every change applied to the conversation: a client that has seen a
    /// version has seen everything up to it.
    pub version: i64,
}

impl From<api::ConversationSummary> for ConversationSummary {
    fn from(s: api::ConversationSummary) -> Self {
        Self {
            id: s.id,
            application_number: s.application_number,
            customer_id: s.customer_id,
            customer_name: s.customer_name,
            loan_amount: s.loan_amount,
            loan_purpose: s.loan_purpose,
            status: s.status.into(),
            started_at: s.started_at_ms.and_then(rfc3339),
            last_activity_at: s.last_activity_ms.and_then(rfc3339),
            message_count: s.message_count,
            version: s.version,
        }
    }
}

/// A page of conversations, most recent activity first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    Assistant,
}

/// One transcript message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// Unique in its conversation: `s<seq>`, or `e<stream entry id>` without `seq`.
    pub id: String,
    pub seq: Option<i64>,
    pub speaker: Speaker,
    pub text: String,
    /// The assistant's stated reason, when it gave one.
    pub rationale: Option<String>,
    pub answer_input_type: Option<String>,
    pub at: Option<String>,
}

/// The loan application as last described.
#[derive(Debug, Serialize, ToSchema)]
pub struct Application {
    pub application_number: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub loan_term: Option<f64>,
    pub loan_fee: Option<f64>,
    pub loan_total_payable: Option<f64>,
}

/// One assessment, with its payload as the agent sent it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assessment {
    /// `identity_risk`, `serviceability` or `fraud_check`.
    pub kind: String,
    pub decision: Option<String>,
    pub severity: Option<String>,
    pub final_score: Option<f64>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The final credit decision.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Declined,
    Referred,
}

/// One version of a noticeboard topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeVersion {
    pub content: String,
    pub at: Option<String>,
}

/// The posts of one agent topic, oldest first; the last is the current content.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeboardTopic {
    /// `<agent>::<Topic>`.
    pub agent_name: String,
    pub versions: Vec<NoticeVersion>,
}

/// The customer a conversation is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerLink {
    pub id: String,
    /// `/api/v1/customers/{id}`.
    pub href: String,
}

/// A conversation in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub customer: Option<CustomerLink>,
    /// Oldest first.
    pub transcript: Vec<Message>,
    pub application: Option<Application>,
    pub assessments: Vec<Assessment>,
    pub decision: Option<Decision>,
    /// The agents' summary of the conversation (`conversation_summary`), as sent.
    #[schema(value_type = Option<Object>)]
    pub conversation_summary: Option<serde_json::Value>,
    /// One entry per agent topic, in agent-name order.
    pub noticeboard: Vec<NoticeboardTopic>,
}

impl From<api::ConversationDetail> for Conversation {
    fn from(d: api::ConversationDetail) -> Self {
        let part = |name: &str| {
            d.parts
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p.json).ok())
                .map(|mut v| {
                    // The projection's bookkeeping is not the contract's.
                    if let Some(o) = v.as_object_mut() {
                        o.remove("order");
                        o.remove("at");
                    }
                    v
                })
        };
        let conversation_summary = part("summary");
        let summary = ConversationSummary::from(d.summary);
        Self {
            customer: summary.customer_id.clone().map(|id| CustomerLink {
                href: format!("/api/v1/customers/{}", encode(&id)),
                id,
            }),
            summary,
            transcript: d
                .messages
                .into_iter()
                .map(|m| Message {
                    id: m.id,
                    seq: m.seq,
                    speaker: match m.speaker {
                        api::Speaker::Customer => Speaker::Customer,
                        api::Speaker::Assistant => Speaker::Assistant,
                    },
                    text: m.text,
                    rationale: m.rationale,
                    answer_input_type: m.answer_input_type,
                    at: rfc3339(m.at_ms),
                })
                .collect(),
            application: d.application.map(|a| Application {
                application_number: a.application_number,
                loan_amount: a.loan_amount,
                loan_purpose: a.loan_purpose,
                loan_term: a.loan_term,
                loan_fee: a.loan_fee,
                loan_total_payable: a.loan_total_payable,
            }),
            assessments: d
                .assessments
                .into_iter()
                .map(|a| Assessment {
                    detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
                    kind: a.kind,
                    decision: a.decision,
                    severity: a.severity,
                    final_score: a.final_score,
                })
                .collect(),
            decision: d.decision.map(|d| match d {
                api::Decision::Approved => Decision::Approved,
                api::Decision::Declined => Decision::Declined,
                api::Decision::Referred => Decision::Referred,
            }),
            conversation_summary,
            noticeboard: d
                .noticeboard
                .into_iter()
                .map(|n| NoticeboardTopic {
                    agent_name: n.agent_name,
                    versions: n
                        .versions
                        .into_iter()
                        .map(|v| NoticeVersion {
                            content: v.content,
                            at: rfc3339(v.at_ms),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A path segment, percent-encoded.
pub fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What the projection made of an entry.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It changed the conversation.
    Applied,
    /// Its event was already applied (the same `seq`, or the same entry again).
    Duplicate,
    /// An event type the contract does not name: it changed nothing.
    Ignored,
    /// It broke the contract: moved to the dead-letter stream (see `reason`).
    Refused,
}

/// One entry of a conversation's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// The stream entry id; the timeline is in its order (the arrival order).
    pub entry_id: String,
    /// When the stream took the entry (from its id).
    pub arrived_at: Option<String>,
    /// The event type (`typ`) as sent.
    #[serde(rename = "type")]
    pub typ: String,
    pub seq: Option<i64>,
    pub agent: Option<String>,
    /// The event time (EVENTS.md §2); `null` for a refused entry.
    pub event_time: Option<String>,
    pub outcome: Outcome,
    /// Whether it changed the projection (`outcome` is `applied`).
    pub changed: bool,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl From<Arrival> for TimelineEntry {
    fn from(a: Arrival) -> Self {
        let outcome = match a.outcome {
            api::Outcome::Applied => Outcome::Applied,
            api::Outcome::Duplicate => Outcome::Duplicate,
            api::Outcome::Ignored => Outcome::Ignored,
            api::Outcome::Refused => Outcome::Refused,
        };
        Self {
            arrived_at: a.added_ms().and_then(rfc3339),
            event_time: a.at_ms.and_then(rfc3339),
            changed: matches!(outcome, Outcome::Applied),
            entry_id: a.entry_id,
            typ: a.typ,
            seq: a.seq,
            agent: a.agent,
            outcome,
            reason: a.reason,
        }
    }
}

/// A page of a conversation's timeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    pub items: Vec<TimelineEntry>,
    pub next_cursor: Option<String>,
}

/// One customer as the list shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSummary {
    pub id: String,
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub conversation_count: i64,
}

impl From<api::CustomerSummary> for CustomerSummary {
    fn from(c: api::CustomerSummary) -> Self {
        Self {
            id: c.id,
            name: c.name,
            email_address: c.email_address,
            conversation_count: c.conversation_count,
        }
    }
}

/// A page of customers, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    pub items: Vec<CustomerSummary>,
    pub next_cursor: Option<String>,
}

/// A customer's profile, merged from every application event that named them, with
/// their conversations (most recent activity first).
#[derive(Debug, Serialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub title: Option<String>,
    pub preferred_name: Option<String>,
    /// First, middle and last name.
    pub full_name: Option<String>,
    pub email_address: Option<String>,
    pub mobile_phone_number: Option<String>,
    pub date_of_birth: Option<String>,
    /// One line.
    pub residential_address: Option<String>,
    pub mailing_address: Option<String>,
    pub application_numbers: Vec<String>,
    pub conversations: Vec<ConversationSummary>,
}

impl From<api::CustomerProfile> for Customer {
    fn from(p: api::CustomerProfile) -> Self {
        let c = p.customer;
        Self {
            id: c.id,
            title: c.title,
            preferred_name: c.preferred_name,
            full_name: c.full_name,
            email_address: c.email_address,
            mobile_phone_number: c.mobile_phone_number,
            date_of_birth: c.date_of_birth,
            residential_address: c.residential_address,
            mailing_address: c.mailing_address,
            application_numbers: c.applications,
            conversations: p.conversations.into_iter().map(Into::into).collect(),
        }
    }
}

/// An error, as RFC 9457 describes (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, and what to do about it.
    pub detail: String,
}

/// One change of the change stream (`data` of an `event: change`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEvent {
    pub conversation_id: String,
    /// The conversation's version after the change.
    pub version: i64,
}
