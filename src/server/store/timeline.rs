//! The `timeline` collection: one document per stream entry that named a conversation,
//! written by ingest once it knows what the projection made of the entry (see
//! `api::timeline`). Keyed by the entry id, so an entry read again (after a crash, or
//! claimed from a stalled consumer) keeps its first record.

use mongodb::bson::{self, Document, doc};
use mongodb::error::ErrorKind;
use serde::{Deserialize, Serialize};

use super::{DUPLICATE_KEY, Store, StoreError};
use crate::api::{Arrival, Outcome, Timeline, TimelineTail};

/// One arrival as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArrivalDoc {
    #[serde(rename = "_id")]
    entry_id: String,
    conversation: String,
    /// The entry id's two numbers, for ordering: ids do not sort as text.
    entry_ms: i64,
    entry_seq: i64,
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

/// The two numbers of a stream entry id, `<milliseconds>-<sequence>`.
pub fn entry_order(id: &str) -> Option<(i64, i64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

impl Store {
    fn timeline_log(&self) -> mongodb::Collection<ArrivalDoc> {
        self.db.collection("timeline")
    }

    pub(super) fn timeline_index() -> Document {
        doc! { "conversation": 1, "entry_ms": 1, "entry_seq": 1 }
    }

    /// Records `arrivals` (each with its conversation id) in one unordered insert. An
    /// entry recorded before keeps its first record.
    pub async fn record_arrivals(&self, arrivals: &[(&str, Arrival)]) -> Result<(), StoreError> {
        let docs: Vec<ArrivalDoc> = arrivals
            .iter()
            .filter_map(|(conversation, a)| {
                let (entry_ms, entry_seq) = entry_order(&a.entry_id)?;
                Some(ArrivalDoc {
                    entry_id: a.entry_id.clone(),
                    conversation: (*conversation).to_owned(),
                    entry_ms,
                    entry_seq,
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
        let mut filter = doc! { "conversation": conversation };
        if let Some(after) = after {
            let (ms, seq) = entry_order(after).ok_or(StoreError::BadCursor)?;
            filter.insert(
                "$or",
                vec![
                    doc! { "entry_ms": { "$gt": ms } },
                    doc! { "entry_ms": ms, "entry_seq": { "$gt": seq } },
                ],
            );
        }
        let limit = limit.clamp(1, 1000);
        let mut cursor = self
            .timeline_log()
            .find(filter)
            .sort(doc! { "entry_ms": 1, "entry_seq": 1 })
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
            .find(doc! { "conversation": conversation })
            .sort(doc! { "entry_ms": -1, "entry_seq": -1 })
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
                .count_documents(doc! { "conversation": conversation })
                .await?;
            all.saturating_sub(items.len() as u64) as i64
        };
        Ok(TimelineTail { items, earlier })
    }
}
