//! `conversation_started`: the conversation exists, with its application and customer.
//! It may arrive after other events of the conversation, so it only fills in: the start
//! time is the earliest seen and nothing already there is wiped.

use mongodb::bson::{DateTime, Document, doc};

use super::{Guard, Projection};
use crate::contract::{Body, Event};

pub fn project(event: &Event) -> Projection {
    let at = DateTime::from_millis(event.at_ms);
    let mut set = Document::new();
    if let Body::Started {
        application_number,
        customer_id,
    } = &event.body
    {
        if let Some(app) = application_number {
            set.insert("application_number", app);
        }
        if let Some(customer) = customer_id {
            set.insert("customer_id", customer);
        }
    }
    let mut update = doc! {
        "$min": { "started_at": at },
        "$max": { "last_activity_at": at, "last_message_at": at },
        "$setOnInsert": { "status": "active", "message_count": 0_i64 },
    };
    if !set.is_empty() {
        update.insert("$set", set);
    }
    if let Body::Started {
        application_number: Some(app),
        ..
    } = &event.body
    {
        super::add_search_words(&mut update, app);
    }
    Projection {
        guard: Guard::Once(event.id.key()),
        update,
        message: None,
    }
}
