//! Writing a whole batch of events in one round trip. The events of one conversation are
//! coalesced into one write where their updates merge (see [`super::coalesce`]), each
//! write keeping its events' guards (see [`Store::apply`]); the batch goes to the server
//! as one unordered `bulkWrite`, which the projections allow because every effect is
//! order-independent.
//!
//! The server's answer says, per write, whether it changed anything. An upsert that
//! collides with an existing conversation (one that already holds an event of the write,
//! or was created meanwhile by another writer) has its events retried one by one without
//! upserting, exactly as the single-event path does. The customer names a batch brings
//! (see [`super::customers`]) ride along in their conversations' writes. Servers without
//! `bulkWrite` (MongoDB before 8.0) get the same writes one at a time instead;
//! [`Store::run_updates`] does that for every batch of the store (the customers' too).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use mongodb::Collection;
use mongodb::bson::{self, Document, doc};
use mongodb::error::{ErrorKind, PartialBulkWriteResult};
use mongodb::options::{UpdateOneModel, WriteModel};
use mongodb::results::VerboseBulkWriteResult;

use super::customers::{NameCopy, Seen, refused};
use super::{
    DUPLICATE_KEY, Store, StoreError, SummaryDoc, coalesce, guarded, is_duplicate_key,
    summary_projection,
};
use crate::api::ConversationSummary;
use crate::server::projection::Guard;

/// The error code of a command the server does not know.
const COMMAND_NOT_FOUND: i32 = 59;

/// One event's write: its conversation, guard and update.
pub type EventWrite = (String, Guard, Document);

/// What one write did: changed its document (`true`), found its effect there already
/// (`false`), or was refused by the server (the message), which fails that write alone.
pub type WriteOutcome = Result<bool, String>;

/// One update of a batch, to any collection.
pub(super) struct Update {
    pub collection: Collection<Document>,
    pub filter: Document,
    pub update: Document,
    pub upsert: bool,
}

impl Update {
    fn model(&self) -> WriteModel {
        WriteModel::UpdateOne(
            UpdateOneModel::builder()
                .namespace(self.collection.namespace())
                .filter(self.filter.clone())
                .update(self.update.clone())
                .upsert(self.upsert)
                .build(),
        )
    }
}

/// Customer-name copies written on their own, and which of them rename a conversation.
#[derive(Default)]
struct Copies {
    updates: Vec<Update>,
    renames: Renames,
}

impl Copies {
    fn add(&mut self, update: Update, renames: Option<&str>) {
        if let Some(conv) = renames {
            self.renames.0.push((self.updates.len(), conv.to_owned()));
        }
        self.updates.push(update);
    }

    fn add_conversation(&mut self, store: &Store, copy: &NameCopy, conv: &str) {
        let [same, rename] = copy.on_conversation(store, conv);
        self.add(same, None);
        self.add(rename, Some(conv));
    }
}

/// Positions (among the copies) of the writes that change a conversation's shown name.
#[derive(Default)]
struct Renames(Vec<(usize, String)>);

impl Renames {
    /// Adds the conversations renamed to `renamed`; a copy the server refused fails the
    /// batch (its entries are retried).
    fn finish(
        self,
        outcomes: &[WriteOutcome],
        renamed: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        refused(outcomes)?;
        for (at, conv) in self.0 {
            if matches!(outcomes.get(at), Some(Ok(true))) {
                renamed.push(conv);
            }
        }
        Ok(())
    }
}

/// What a batch of updates did: each one's outcome (in order), and the positions of the
/// upserts that collided on `_id` (the document exists, but the filter did not match it).
#[derive(Default)]
pub(super) struct Ran {
    pub outcomes: Vec<WriteOutcome>,
    pub collided: Vec<usize>,
}

/// What a batch did: each event write's outcome (in order), and the conversations whose
/// shown customer name changed other than through a write of their own events.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub events: Vec<WriteOutcome>,
    pub renamed: Vec<String>,
}

impl Store {
    /// Applies every write, each exactly once, and copies the customer `names` (from
    /// [`Store::merge_customers`]), all in one round trip when nothing collides. A name
    /// whose conversation has events in the batch rides along in that conversation's
    /// write; the others are writes of their own. Says for each event write whether it
    /// changed its conversation.
    pub async fn apply_batch(
        &self,
        writes: Vec<EventWrite>,
        names: &[NameCopy],
    ) -> Result<BatchOutcome, StoreError> {
        let conversation = |(filter, update): (Document, Document), upsert: bool| Update {
            collection: self.conversations.clone(),
            filter,
            update,
            upsert,
        };
        let mut groups = coalesce::group(&writes);
        // Each conversation's newest write, and the name folded into it, if any.
        let newest: HashMap<String, usize> = groups
            .iter()
            .enumerate()
            .map(|(g, group)| (group.conv.clone(), g))
            .collect();
        let mut folded: HashMap<usize, &NameCopy> = HashMap::new();
        // Copies to conversations this batch creates that could not ride along (two
        // customers' names for one conversation): written once the conversation exists,
        // since an unordered bulkWrite may run them before its creation.
        let mut later: Vec<(&NameCopy, usize)> = Vec::new();
        let mut copies = Copies::default();
        for copy in names {
            copies.add(copy.on_customer(self), None);
            for (conv, seen) in copy.targets() {
                let group = newest.get(conv).copied();
                match (seen, group) {
                    (Seen::Newer, _) | (Seen::Missing, None) => {}
                    (Seen::Missing | Seen::Other, Some(g))
                        if !folded.contains_key(&g) && groups[g].fold(copy.as_part()) =>
                    {
                        folded.insert(g, copy);
                    }
                    (Seen::Missing, Some(g)) => later.push((copy, g)),
                    _ => copies.add_conversation(self, copy, conv),
                }
            }
        }
        let mut updates: Vec<Update> = groups
            .iter()
            .map(|g| conversation(g.write(), true))
            .collect();
        let first_copy = updates.len();
        updates.extend(copies.updates);
        let ran = self.run_updates(updates).await?;
        let mut outcome = BatchOutcome {
            events: vec![Ok(false); writes.len()],
            renamed: Vec::new(),
        };
        for (group, result) in groups.iter().zip(&ran.outcomes) {
            for &i in &group.members {
                outcome.events[i] = result.clone();
            }
        }
        copies.renames.finish(
            ran.outcomes.get(first_copy..).unwrap_or_default(),
            &mut outcome.renamed,
        )?;

        // A collision means the conversation exists and the group's guards did not all
        // hold there (an event of it was stored before, or a register or the name is
        // newer), or that another writer created it meanwhile. Each of those events is
        // written again on its own, without upserting, and a name folded into the group
        // on its own writes. The copies held for conversations the batch created go in
        // the same round trip.
        let collided: Vec<usize> = ran
            .collided
            .into_iter()
            .filter(|&g| g < first_copy)
            .collect();
        if collided.is_empty() && later.is_empty() {
            return Ok(outcome);
        }
        let retry: Vec<usize> = collided
            .iter()
            .flat_map(|&g| groups[g].members.iter().copied())
            .collect();
        let mut updates: Vec<Update> = retry
            .iter()
            .map(|&i| {
                let (conv, guard, update) = &writes[i];
                conversation(guarded(conv, guard, update.clone()), false)
            })
            .collect();
        let mut copies = Copies::default();
        for g in &collided {
            if let Some(copy) = folded.get(g) {
                copies.add_conversation(self, copy, &groups[*g].conv);
            }
        }
        for (copy, g) in later {
            copies.add_conversation(self, copy, &groups[g].conv);
        }
        let first_copy = updates.len();
        updates.extend(copies.updates);
        let again = self.run_updates(updates).await?;
        for (&i, result) in retry.iter().zip(&again.outcomes) {
            outcome.events[i] = result.clone();
        }
        copies.renames.finish(
            again.outcomes.get(first_copy..).unwrap_or_default(),
            &mut outcome.renamed,
        )?;
        for position in again.collided {
            if let Some(&i) = retry.get(position) {
                outcome.events[i] = Err(format!(
                    "conversation {} was being created by another writer",
                    writes[i].0
                ));
            }
        }
        Ok(outcome)
    }

    /// Runs `updates` as one unordered bulk write, or one at a time on a server without
    /// `bulkWrite`.
    pub(super) async fn run_updates(&self, updates: Vec<Update>) -> Result<Ran, StoreError> {
        if updates.is_empty() {
            return Ok(Ran::default());
        }
        if self.bulk.load(Ordering::Relaxed) {
            let models = updates.iter().map(Update::model).collect();
            match self.run_bulk(models, updates.len()).await {
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
            outcomes: Vec::with_capacity(updates.len()),
            collided: Vec::new(),
        };
        for (position, u) in updates.into_iter().enumerate() {
            let result = u
                .collection
                .update_one(u.filter, u.update)
                .upsert(u.upsert)
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
