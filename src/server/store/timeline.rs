//! The `timeline` collection: one document per stream entry that named a conversation,
//! written by ingest once it knows what the projection made of the entry (see
//! `api::timeline`). Keyed by the conversation and the entry id, so an entry read again
//! (after a crash, or claimed from a stalled consumer) keeps its first record, and a
//! conversation's timeline is a range of the `_id` index in arrival order: no second
//! index to keep up as every entry is recorded (it cost ingest a tenth of its rate).

use mongodb::bson::{self, Document, doc};
use mongodb::error::ErrorKind;
use serde::{Deserialize, Serialize};

use super::{DUPLICATE_KEY, Store, StoreError};
use crate::api::{Arrival, Outcome, Timeline, TimelineTail};

/// One arrival as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArrivalDoc {
    /// See [`key`].
    #[serde(rename = "_id")]
    key: String,
    conversation: String,
    entry_id: String,
    typ: String,
    seq: Option<i64>,
    agent: Option<String>,
    at: Option<i64>,
    outcome: String,
    reason: Option<String>,
}

impl From<ArrivalDoc> for Arrival {
    fn from(d: ArrivalDoc) -> Self {
        Self {
            entry_id: d.entry_id,
            typ: d.typ,
            seq: d.seq,
            agent: d.agent,
            at_ms: d.at,
            // A record of a newer version's outcome reads as applied.
            outcome: Outcome::parse(&d.outcome).unwrap_or(Outcome::Applied),
            reason: d.reason,
        }
    }
}

/// A record's `_id`: the conversation, then the entry id's two numbers zero-padded, so
/// that a conversation's records are one range of the index, in stream order.
fn key(conversation: &str, (ms, seq): (i64, i64)) -> String {
    format!("{conversation}\u{1}{ms:020}-{seq:020}")
}

/// The range of `conversation`'s keys after `after` (from the start without it).
fn range(conversation: &str, after: Option<(i64, i64)>) -> Document {
    let from = match after {
        Some(order) => doc! { "$gt": key(conversation, order) },
        None => doc! { "$gt": format!("{conversation}\u{1}") },
    };
    let mut range = from;
    range.insert("$lt", format!("{conversation}\u{2}"));
    doc! { "_id": range, "conversation": conversation }
}

/// The two numbers of a stream entry id, `<milliseconds>-<sequence>`.
pub fn entry_order(id: &str) -> Option<(i64, i64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl Store {
    fn timeline_log(&self) -> mongodb::Collection<ArrivalDoc> {
        self.db.collection("timeline")
    }

    /// Records `arrivals` (each with its conversation id) in one unordered insert. An
    /// entry recorded before keeps its first record.
    pub async fn record_arrivals(&self, arrivals: &[(&str, Arrival)]) -> Result<(), StoreError> {
        let docs: Vec<ArrivalDoc> = arrivals
            .iter()
            .filter_map(|(conversation, a)| {
                Some(ArrivalDoc {
                    key: key(conversation, entry_order(&a.entry_id)?),
                    entry_id: a.entry_id.clone(),
                    conversation: (*conversation).to_owned(),
                    typ: a.typ.clone(),
                    seq: a.seq,
                    agent: a.agent.clone(),
                    at: a.at_ms,
                    outcome: a.outcome.as_str().to_owned(),
                    reason: a.reason.clone(),
                })
            })
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        match self.timeline_log().insert_many(docs).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(failure)
                    if failure.write_concern_error.is_none()
                        && failure.write_errors.as_ref().is_some_and(|errors| {
                            errors.iter().all(|w| w.code == DUPLICATE_KEY)
                        }) =>
                {
                    Ok(())
                }
                _ => Err(e.into()),
            },
        }
    }

    /// Up to `limit` arrivals of `conversation` after the entry `after`, oldest first.
    pub async fn timeline(
        &self,
        conversation: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Timeline, StoreError> {
        let after = after
            .map(|a| entry_order(a).ok_or(StoreError::BadCursor))
            .transpose()?;
        let filter = range(conversation, after);
        let limit = limit.clamp(1, 1000);
        let mut cursor = self
            .timeline_log()
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(limit as i64 + 1)
            .await?;
        let mut items: Vec<Arrival> = Vec::with_capacity(limit + 1);
        while cursor.advance().await? {
            items.push(bson::from_slice::<ArrivalDoc>(cursor.current().as_bytes())?.into());
        }
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|a| a.entry_id.clone())
        });
        Ok(Timeline {
            items,
            next: next.flatten(),
        })
    }

    /// The last `n` arrivals of `conversation`, oldest first, and how many came before
    /// them.
    pub async fn timeline_tail(
        &self,
        conversation: &str,
        n: usize,
    ) -> Result<TimelineTail, StoreError> {
        let n = n.clamp(1, 1000);
        let mut cursor = self
            .timeline_log()
            .find(range(conversation, None))
            .sort(doc! { "_id": -1 })
            .limit(n as i64)
            .await?;
        let mut items: Vec<Arrival> = Vec::with_capacity(n);
        while cursor.advance().await? {
            items.push(bson::from_slice::<ArrivalDoc>(cursor.current().as_bytes())?.into());
        }
        items.reverse();
        let earlier = if items.len() < n {
            0
        } else {
            let all = self
                .timeline_log()
                .count_documents(range(conversation, None))
                .await?;
            all.saturating_sub(items.len() as u64) as i64
        };
        Ok(TimelineTail { items, earlier })
    }
}
