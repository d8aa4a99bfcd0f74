//! `noticeboard_updated`: one entry per `agent_name`, whose versions are every content
//! posted under it, ordered by `seq` (or event time), the newest being the current
//! content. Entries live in a map keyed by the agent name, escaped to be a valid field
//! name, so one update adds a version whatever order posts arrive in.

use mongodb::bson::{DateTime, doc};

use super::{Guard, Limits, Projection};
use crate::contract::{Event, NoticePost};

/// The agent name as a MongoDB field name: `%`, `.` and `$` are percent-escaped.
pub fn entry_key(agent_name: &str) -> String {
    agent_name
        .replace('%', "%25")
        .replace('.', "%2E")
        .replace('$', "%24")
}

pub fn project(event: &Event, post: &NoticePost, limits: &Limits) -> Projection {
    let at = DateTime::from_millis(event.at_ms);
    let order = event.envelope.seq.unwrap_or(event.at_ms);
    let entry = format!("noticeboard.{}", entry_key(&post.agent_name));
    let version = doc! {
        "content": &post.content,
        "order": order,
        "at": DateTime::from_millis(post.at_ms.unwrap_or(event.at_ms)),
    };
    let mut push = mongodb::bson::Document::new();
    push.insert(
        format!("{entry}.versions"),
        doc! {
            "$each": [version],
            "$sort": { "order": 1 },
            "$slice": -(limits.noticeboard_versions as i64),
        },
    );
    let mut set = mongodb::bson::Document::new();
    set.insert(format!("{entry}.agent_name"), &post.agent_name);
    Projection {
        guard: Guard::Once(event.id.key()),
        update: doc! {
            "$push": push,
            "$set": set,
            "$min": { "started_at": at },
            "$max": { "last_activity_at": at },
            "$setOnInsert": { "status": "active", "message_count": 0_i64 },
        },
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_become_safe_field_names() {
        assert_eq!(
            entry_key("fraud_agent::Fraud Signals"),
            "fraud_agent::Fraud Signals"
        );
        assert_eq!(entry_key("a.b::$x%"), "a%2Eb::%24x%25");
    }
}
