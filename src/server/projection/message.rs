//! `user_input` and `assistant_response`: one transcript message each. The transcript is
//! kept sorted by (`seq`, time, stream entry id) whatever order events arrive in, and
//! trimmed to the newest messages allowed by [`Limits`]. The entry id settles ties
//! (messages without `seq` at the same time), so arrival order never decides.
//!
//! Each message also keeps what tells whether the customer waits for a reply, in any
//! arrival order: the time of Billie's last reply ([`REPLIED_AT`], the latest) and the
//! times of the customer's last [`ASKED_KEPT`] messages ([`ASKED_AT`], sorted). The
//! customer waits since the first of theirs after the last reply (`api::attention`).

use mongodb::bson::{Bson, DateTime, doc};

use super::{Guard, Limits, Projection};
use crate::api::Message;
use crate::contract::{Event, Speaker, Utterance};

/// The times of the customer's last messages.
pub const ASKED_AT: &str = "asked_at";
/// How many of the customer's message times are kept: a wait runs from the earliest of
/// them when all are unanswered.
pub const ASKED_KEPT: i64 = 20;
/// The time of Billie's last reply.
pub const REPLIED_AT: &str = "replied_at";

pub fn project(event: &Event, utterance: &Utterance, limits: &Limits) -> Projection {
    let at = DateTime::from_millis(event.at_ms);
    let stored = doc! {
        "seq": event.envelope.seq.map_or(Bson::Null, Bson::Int64),
        "entry_id": &event.envelope.entry_id,
        "speaker": utterance.speaker.as_str(),
        "agent": &event.envelope.agent,
        "text": &utterance.text,
        "rationale": utterance.rationale.as_deref().map_or(Bson::Null, Bson::from),
        "answer_input_type": utterance.answer_input_type.as_deref().map_or(Bson::Null, Bson::from),
        "end_conversation": utterance.end_conversation,
        "at": at,
    };
    let mut push = doc! { "messages": {
        "$each": [stored],
        "$sort": { "seq": 1, "at": 1, "entry_id": 1 },
        "$slice": -(limits.transcript as i64),
    } };
    let mut max = doc! { "last_activity_at": at, "last_message_at": at };
    match utterance.speaker {
        Speaker::Customer => {
            push.insert(
                ASKED_AT,
                doc! { "$each": [at], "$sort": 1, "$slice": -ASKED_KEPT },
            );
        }
        Speaker::Assistant => {
            max.insert(REPLIED_AT, at);
        }
    }
    let update = doc! {
        "$push": push,
        "$inc": { "message_count": 1_i64 },
        "$min": { "started_at": at },
        "$max": max,
        "$setOnInsert": { "status": "active" },
    };
    Projection {
        guard: Guard::Once(event.id.key()),
        update,
        message: Some(Message {
            id: event.id.key(),
            seq: event.envelope.seq,
            speaker: utterance.speaker,
            text: utterance.text.clone(),
            rationale: utterance.rationale.clone(),
            answer_input_type: utterance.answer_input_type.clone(),
            at_ms: event.at_ms,
        }),
    }
}
