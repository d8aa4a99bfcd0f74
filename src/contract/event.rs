//! Events: an envelope interpreted by its `typ`, with its identity and event time.

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use super::envelope::{Envelope, RawEntry};
use super::payload::{Body, EventKind};

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
        let body = Body::parse(&kind, &envelope)?;
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
