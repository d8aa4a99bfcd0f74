//! A conversation's timeline: every stream entry that reached it, in the order the
//! stream holds them, with what the projection made of each. Auditors ask "what happened
//! in this conversation, and when"; the conversation page's Events view and
//! `GET /api/v1/conversations/{id}/events` answer it.

use serde::{Deserialize, Serialize};

/// What the projection made of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It changed the conversation.
    Applied,
    /// Its event was already applied (the same `seq`, or the same entry read again).
    Duplicate,
    /// A type the contract does not name: kept in the stream, changes nothing.
    Ignored,
    /// It broke the contract (or the store kept refusing it): moved to the dead-letter
    /// stream, with the reason.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Applied, Self::Duplicate, Self::Ignored, Self::Refused]
            .into_iter()
            .find(|o| o.as_str() == text)
    }

    /// What supervisors read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Applied => "Applied",
            Self::Duplicate => "Duplicate",
            Self::Ignored => "Unknown type",
            Self::Refused => "Refused",
        }
    }
}

/// One entry of a conversation's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// The stream entry id (`<milliseconds>-<sequence>`): its order is the arrival order.
    pub entry_id: String,
    /// The event type (`typ`), as sent; empty when the entry had none.
    pub typ: String,
    pub seq: Option<i64>,
    pub agent: Option<String>,
    /// The event time (EVENTS.md §2); `None` for a refused entry.
    pub at_ms: Option<i64>,
    pub outcome: Outcome,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl Arrival {
    /// When the stream took the entry, from its id.
    pub fn added_ms(&self) -> Option<i64> {
        self.entry_id.split_once('-')?.0.parse().ok()
    }
}

/// A page of a timeline, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub items: Vec<Arrival>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The end of a timeline, as the conversation page's Events view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineTail {
    /// The last entries, oldest first.
    pub items: Vec<Arrival>,
    /// How many entries came before them (the API has them all).
    pub earlier: i64,
}

/// Entries the Events view shows: the end of the timeline.
pub const TAIL: usize = 500;

/// The end of conversation `id`'s timeline.
#[leptos::server(endpoint = "conversations/timeline")]
pub async fn conversation_timeline(
    id: String,
) -> Result<TimelineTail, leptos::prelude::ServerFnError> {
    let (state, user) = crate::server::auth::require_user().await?;
    crate::server::audit::viewed(&state, &user, "conversation", &id).await;
    state
        .store
        .timeline_tail(&id, TAIL)
        .await
        .map_err(crate::server::errors::store)
}
