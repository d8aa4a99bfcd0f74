//! Writing a whole batch of events in one round trip. The events of one conversation are
//! coalesced into one write where their updates merge (see [`super::coalesce`]), each
//! write keeping its events' guards (see [`Store::apply`]); the batch goes to the server
//! as one unordered `bulkWrite`, which the projections allow because every effect is
//! order-independent.
//!
//! The server's answer says, per write, whether it changed anything. An upsert that
//! collides with an existing conversation (one that already holds an event of the write,
//! or was created meanwhile by another writer) has its events retried one by one without
//! upserting, exactly as the single-event path does. Servers without `bulkWrite` (MongoDB
//! before 8.0) get the events one at a time instead.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use mongodb::bson::{self, Document, doc};
use mongodb::error::{ErrorKind, PartialBulkWriteResult};
use mongodb::options::{UpdateOneModel, WriteModel};
use mongodb::results::VerboseBulkWriteResult;

use super::{
    Applied, Store, StoreError, SummaryDoc, coalesce, guarded, is_duplicate_key, summary_projection,
};
use crate::api::ConversationSummary;
use crate::server::projection::Guard;

/// The error code of a command the server does not know.
const COMMAND_NOT_FOUND: i32 = 59;

/// One event's write: its conversation, guard and update.
pub type EventWrite = (String, Guard, Document);

/// What one write did: changed its conversation (`true`), found its effect there already
/// (`false`), or was refused by the server (the message), which fails that event alone.
pub type WriteOutcome = Result<bool, String>;

impl Store {
    /// Applies every write, each exactly once; says for each whether it changed its
    /// conversation.
    pub async fn apply_batch(
        &self,
        writes: Vec<EventWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        if self.bulk.load(Ordering::Relaxed) {
            match self.bulk_apply(&writes).await {
                Err(StoreError::Mongo(e)) if command_not_found(&e) => {
                    tracing::warn!(
                        "the store has no bulkWrite (MongoDB < 8.0): writing events one by one"
                    );
                    self.bulk.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        for (conv, guard, update) in writes {
            outcomes.push(match self.apply(&conv, &guard, update).await {
                Ok(applied) => Ok(matches!(applied, Applied::Changed(_))),
                Err(StoreError::Mongo(e)) if is_write_error(&e) => Err(e.to_string()),
                Err(e) => return Err(e),
            });
        }
        Ok(outcomes)
    }

    async fn bulk_apply(&self, writes: &[EventWrite]) -> Result<Vec<WriteOutcome>, StoreError> {
        let namespace = self.conversations.namespace();
        let model = |(filter, update): (Document, Document), upsert: bool| {
            WriteModel::UpdateOne(
                UpdateOneModel::builder()
                    .namespace(namespace.clone())
                    .filter(filter)
                    .update(update)
                    .upsert(upsert)
                    .build(),
            )
        };
        let groups = coalesce::group(writes);
        let mut outcomes: Vec<WriteOutcome> = vec![Ok(false); writes.len()];
        let models = groups.iter().map(|g| model(g.write(), true)).collect();
        let mut group_outcomes: Vec<WriteOutcome> = vec![Ok(false); groups.len()];
        let collided = self.run_bulk(models, &mut group_outcomes).await?;
        for (group, outcome) in groups.iter().zip(group_outcomes) {
            for &i in &group.members {
                outcomes[i] = outcome.clone();
            }
        }
        // A collision means the conversation exists and the group's guards did not all
        // hold there (an event of it was stored before, or a register is newer), or that
        // another writer created it meanwhile. Each of those events is written again on
        // its own, without upserting.
        let retry: Vec<usize> = collided
            .iter()
            .flat_map(|&g| groups[g].members.iter().copied())
            .collect();
        if !retry.is_empty() {
            let models = retry
                .iter()
                .map(|&i| {
                    let (conv, guard, update) = &writes[i];
                    model(guarded(conv, guard, update.clone()), false)
                })
                .collect();
            let mut again = vec![Ok(false); retry.len()];
            let still = self.run_bulk(models, &mut again).await?;
            for (&i, outcome) in retry.iter().zip(again) {
                outcomes[i] = outcome;
            }
            for position in still {
                outcomes[retry[position]] = Err(format!(
                    "conversation {} was being created by another writer",
                    writes[retry[position]].0
                ));
            }
        }
        Ok(outcomes)
    }

    /// Runs one unordered bulk write of `models`, recording each one's outcome at its
    /// position; returns the positions whose upsert collided on `_id`.
    async fn run_bulk(
        &self,
        models: Vec<WriteModel>,
        outcomes: &mut [WriteOutcome],
    ) -> Result<Vec<usize>, StoreError> {
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
        if let Some(VerboseBulkWriteResult { update_results, .. }) = results {
            for (position, result) in update_results {
                if let Some(outcome) = outcomes.get_mut(position) {
                    *outcome = Ok(result.modified_count > 0 || result.upserted_id.is_some());
                }
            }
        }
        let mut retry = Vec::new();
        for (position, error) in errors {
            if position >= outcomes.len() {
                continue;
            }
            if error.code == 11000 {
                retry.push(position);
            } else {
                outcomes[position] = Err(error.message);
            }
        }
        retry.sort_unstable();
        Ok(retry)
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
