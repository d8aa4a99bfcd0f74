//! Projectors: one per event type, each a pure function from an [`Event`] to the MongoDB
//! update that records its effect on the conversation document. Pure, so the rules can be
//! tested without a database; the store adds the de-duplication bookkeeping
//! ([`crate::server::store::Store::apply`]) in the same write.

mod message;
mod registers;
mod started;

use mongodb::bson::Document;

use crate::api::Message;
use crate::contract::{Body, Event, EventKind};

/// Settings that bound what a conversation document keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Newest transcript messages kept per conversation (EVENTS.md §6).
    pub transcript: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { transcript: 2_000 }
    }
}

/// What makes applying an event a second time (or late) change nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    /// The event's key is recorded with its effect; an event already recorded is skipped.
    Once(String),
    /// The effect replaces the register `field` only when it is newer (by `seq`, or event
    /// time without one) than what is there, so the newest wins in any arrival order.
    Newer { field: &'static str, order: i64 },
}

/// The effect of one event on its conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub guard: Guard,
    /// Update operators for the conversation document.
    pub update: Document,
    /// The transcript message the event adds, for the live feed.
    pub message: Option<Message>,
}

/// What to do with a parsed event.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built and consumed once per event; boxing would only add an allocation"
)]
pub enum Plan {
    Apply(Projection),
    /// A contract type whose projector is not built yet: acknowledged, not projected.
    NotProjected,
    /// A type the contract does not know: acknowledged and counted.
    Unknown,
}

pub fn plan(event: &Event, limits: &Limits) -> Plan {
    match (&event.kind, &event.body) {
        (EventKind::ConversationStarted, Body::Started { .. }) => {
            Plan::Apply(started::project(event))
        }
        (_, Body::Message(utterance)) => Plan::Apply(message::project(event, utterance, limits)),
        (EventKind::Unknown(_), _) => Plan::Unknown,
        (_, body) => registers::project(event, body).map_or(Plan::NotProjected, Plan::Apply),
    }
}

#[cfg(test)]
mod tests;
