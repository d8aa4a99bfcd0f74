//! What the browser and the server say to each other: the data shapes of the
//! conversation views and the live feed, and the `#[server]` functions that read the
//! projections. Shared by both builds; the bodies of the server functions run only on the
//! server, where they use [`crate::server`].

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One conversation as a list card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub application_number: Option<String>,
    pub customer_id: Option<String>,
    pub status: String,
    pub started_at_ms: Option<i64>,
    pub last_activity_ms: Option<i64>,
    pub message_count: i64,
    /// Grows by one with every change applied to the conversation.
    pub version: i64,
}

/// One transcript message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub seq: Option<i64>,
    /// `customer` or `assistant`.
    pub speaker: String,
    pub text: String,
    pub rationale: Option<String>,
    pub answer_input_type: Option<String>,
    pub at_ms: i64,
}

/// A conversation with its transcript (oldest message first) and what the agents found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationDetail {
    pub summary: ConversationSummary,
    pub messages: Vec<Message>,
    pub application: Option<Application>,
    /// Identity risk, serviceability and fraud check, those that have arrived.
    pub assessments: Vec<AssessmentView>,
    /// `APPROVED`, `DECLINED` or `REFERRED`.
    pub decision: Option<String>,
    pub purpose: Option<String>,
    pub facts: Vec<String>,
    /// One entry per agent topic, in agent-name order.
    pub noticeboard: Vec<NoticeboardEntry>,
}

/// The posts of one agent topic (`agent_name` = `"<agent>::<Topic>"`), oldest first; the
/// last is the current content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeboardEntry {
    pub agent_name: String,
    pub versions: Vec<NoticeVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeVersion {
    pub content: String,
    pub at_ms: i64,
}

/// A customer's profile, merged from every application event that named them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub conversations: Vec<String>,
    pub applications: Vec<String>,
}

/// The loan application as last described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_number: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub loan_term: Option<f64>,
    pub loan_fee: Option<f64>,
    pub loan_total_payable: Option<f64>,
}

/// One assessment: the summary a supervisor scans, and its full detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentView {
    /// `identity_risk`, `serviceability` or `fraud_check`.
    pub kind: String,
    pub decision: Option<String>,
    pub severity: Option<String>,
    pub final_score: Option<f64>,
    /// The whole payload, as indented JSON.
    pub detail: String,
}

/// A page of the conversation list, most recent activity first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub items: Vec<ConversationSummary>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    pub role: String,
}

/// A frame of the live feed (`/ws`), serialised once on the server and sent to every
/// browser as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "frames are short-lived; nearly all are changes"
)]
pub enum FeedFrame {
    /// Sent once after connecting: everything before it must be fetched, not awaited.
    Hello,
    /// A conversation changed; `conversation.version` orders changes.
    Change {
        conversation: ConversationSummary,
        /// The message the change added, if it added one.
        message: Option<Message>,
    },
    /// Changes were lost on the way (a slow reader, a broken upstream): refetch.
    Resync,
}

/// Conversations by most recent activity, `after` being the cursor of the previous page.
#[server(endpoint = "conversations/list")]
pub async fn list_conversations(after: Option<String>) -> Result<ConversationPage, ServerFnError> {
    let state = crate::server::auth::require_user().await?;
    state
        .store
        .list_conversations(after.as_deref(), 50)
        .await
        .map_err(ServerFnError::new)
}

/// One conversation with its transcript; `None` if no such conversation exists.
#[server(endpoint = "conversations/get")]
pub async fn get_conversation(id: String) -> Result<Option<ConversationDetail>, ServerFnError> {
    let state = crate::server::auth::require_user().await?;
    state
        .store
        .get_conversation(&id)
        .await
        .map_err(ServerFnError::new)
}

/// The signed-in user.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Me, ServerFnError> {
    use axum_login::AuthSession;
    let session = leptos_axum::extract::<AuthSession<crate::server::auth::Backend>>().await?;
    let user = session
        .user
        .ok_or_else(|| ServerFnError::new("not signed in"))?;
    Ok(Me {
        email: user.email,
        role: user.role.as_str().to_owned(),
    })
}
