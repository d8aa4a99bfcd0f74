//! The projection layer decides; the store carries out. Everything here is pure, so the
//! rules are tested without a database:
//! - projectors, one per event type ([`plan`]): an [`Event`]'s effect on its conversation
//!   as a MongoDB update with its [`Guard`];
//! - `customer`: what an event says of its customer, merged per field, newest first;
//! - `names`: the merged name copied to the customer and their conversations, in order;
//! - `coalesce` and `batch`: a batch's effects as few guarded writes, and what to write
//!   again when the store says a guard did not hold;
//! - `write`: the planned [`write::Write`] the store runs, and the guards' invariants.

pub mod batch;
pub mod coalesce;
pub mod customer;
pub mod message;
pub mod names;
mod noticeboard;
pub mod registers;
mod started;
pub mod write;

use mongodb::bson::{Document, doc};

use crate::api::{Message, search_words};
use crate::contract::{Body, Event};

/// Settings that bound what a conversation document keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Newest transcript messages kept per conversation (EVENTS.md §6).
    pub transcript: usize,
    /// Newest versions kept per noticeboard entry (EVENTS.md §6).
    pub noticeboard_versions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            transcript: 2_000,
            noticeboard_versions: 50,
        }
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

/// The field holding a conversation's search words: those of every application number and
/// customer name it has had (see [`crate::api::search_words`]). It is indexed with the
/// activity time, so a search is an index lookup per word rather than a scan. A customer
/// has one too (see `customer`), folded as a search is, and read by word prefix.
pub const SEARCH_WORDS: &str = "search_words";

/// Adds the words of `text` to the conversation's search words.
pub fn add_search_words(update: &mut Document, text: &str) {
    let words = search_words(text);
    if !words.is_empty() {
        update.insert("$addToSet", doc! { SEARCH_WORDS: { "$each": words } });
    }
}

/// The effect of `event`, or `None` for a type the contract does not know (acknowledged
/// and counted, nothing else).
pub fn plan(event: &Event, limits: &Limits) -> Option<Projection> {
    Some(match &event.body {
        Body::Started { .. } => started::project(event),
        Body::Message(utterance) => message::project(event, utterance, limits),
        Body::Notice(post) => noticeboard::project(event, post, limits),
        Body::Other => return None,
        // Everything else sets a part of the conversation as a whole.
        _ => return registers::project(event),
    })
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
