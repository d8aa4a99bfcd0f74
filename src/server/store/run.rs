//! Running planned writes (see `projection::write`) in one round trip: an unordered
//! `bulkWrite` across both projections. The store does not know what the writes stand
//! for; it reports, per write, whether it changed its document, was refused, or collided
//! on `_id` as an upsert. Servers without `bulkWrite` (MongoDB before 8.0) get the same
//! writes one at a time instead.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use mongodb::bson::{self, doc};
use mongodb::error::{ErrorKind, PartialBulkWriteResult};
use mongodb::options::{UpdateOneModel, WriteModel};
use mongodb::results::VerboseBulkWriteResult;

use super::{DUPLICATE_KEY, Store, StoreError, SummaryDoc, is_duplicate_key, summary_projection};
use crate::api::ConversationSummary;
use crate::server::projection::write::{Collection, Ran, Write};

/// The error code of a command the server does not know.
const COMMAND_NOT_FOUND: i32 = 59;

impl Store {
    fn collection(&self, which: Collection) -> mongodb::Collection<bson::Document> {
        match which {
            Collection::Conversations => self.conversations.clone(),
            Collection::Customers => self.customers(),
        }
    }

    /// Runs `writes` as one unordered bulk write, or one at a time on a server without
    /// `bulkWrite`.
    pub async fn run(&self, writes: Vec<Write>) -> Result<Ran, StoreError> {
        if writes.is_empty() {
            return Ok(Ran::default());
        }
        if self.bulk.load(Ordering::Relaxed) {
            let models = writes.iter().map(|w| self.model(w)).collect();
            match self.run_bulk(models, writes.len()).await {
                Err(StoreError::Mongo(e)) if command_not_found(&e) => {
                    tracing::warn!(
                        "the store has no bulkWrite (MongoDB < 8.0): writing updates one by one"
                    );
                    self.bulk.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let mut ran = Ran {
            outcomes: Vec::with_capacity(writes.len()),
            collided: Vec::new(),
        };
        for (position, w) in writes.into_iter().enumerate() {
            let result = self
                .collection(w.collection)
                .update_one(w.filter, w.update)
                .upsert(w.upsert)
                .await;
            ran.outcomes.push(match result {
                Ok(r) => Ok(r.modified_count > 0 || r.upserted_id.is_some()),
                Err(e) if is_duplicate_key(&e) => {
                    ran.collided.push(position);
                    Ok(false)
                }
                Err(e) if is_write_error(&e) => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            });
        }
        Ok(ran)
    }

    fn model(&self, w: &Write) -> WriteModel {
        WriteModel::UpdateOne(
            UpdateOneModel::builder()
                .namespace(self.collection(w.collection).namespace())
                .filter(w.filter.clone())
                .update(w.update.clone())
                .upsert(w.upsert)
                .build(),
        )
    }

    /// Runs one unordered bulk write of `models`.
    async fn run_bulk(&self, models: Vec<WriteModel>, count: usize) -> Result<Ran, StoreError> {
        let (results, errors) = match self
            .client
            .bulk_write(models)
            .ordered(false)
            .verbose_results()
            .await
        {
            Ok(results) => (Some(results), HashMap::new()),
            Err(e) => match *e.kind {
                ErrorKind::BulkWrite(failure) => {
                    let results = match failure.partial_result {
                        Some(PartialBulkWriteResult::Verbose(results)) => Some(results),
                        _ => None,
                    };
                    (results, failure.write_errors)
                }
                _ => return Err(e.into()),
            },
        };
        let mut ran = Ran {
            outcomes: vec![Ok(false); count],
            collided: Vec::new(),
        };
        if let Some(VerboseBulkWriteResult { update_results, .. }) = results {
            for (position, result) in update_results {
                if let Some(outcome) = ran.outcomes.get_mut(position) {
                    *outcome = Ok(result.modified_count > 0 || result.upserted_id.is_some());
                }
            }
        }
        for (position, error) in errors {
            if position >= count {
                continue;
            }
            if error.code == DUPLICATE_KEY {
                ran.collided.push(position);
            } else {
                ran.outcomes[position] = Err(error.message);
            }
        }
        ran.collided.sort_unstable();
        Ok(ran)
    }

    /// The current summaries of `ids`.
    pub async fn summaries(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, ConversationSummary>, StoreError> {
        let mut cursor = self
            .conversations
            .find(doc! { "_id": { "$in": ids } })
            .projection(summary_projection())
            .await?;
        let mut found = HashMap::with_capacity(ids.len());
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            let summary = ConversationSummary::from(doc);
            found.insert(summary.id.clone(), summary);
        }
        Ok(found)
    }
}

/// A write the server refused for what it would do to the document (not a broken
/// connection): it fails that event alone.
fn is_write_error(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Write(_))
        || matches!(e.kind.as_ref(), ErrorKind::Command(_))
}

fn command_not_found(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == COMMAND_NOT_FOUND)
        || (!is_duplicate_key(e) && e.to_string().contains("no such command"))
}
