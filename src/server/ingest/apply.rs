//! Applying a batch of events: the projection layer plans the writes, the store runs
//! them, and the changes are published to the web processes. This is the only place
//! that sequences the two (pure plans, then I/O, then the plan's next step), so each
//! side stays simple: `projection` never waits on the database and `store` never
//! decides what an event means.

use std::collections::HashMap;

use crate::api::{Arrival, Change, Outcome};
use crate::contract::Event;
use crate::server::feed::Publisher;
use crate::server::metrics::Disposition;
use crate::server::projection::batch::{Batch, BatchOutcome, Settled};
use crate::server::projection::coalesce::EventWrite;
use crate::server::projection::customer::{self, CustomerFacts};
use crate::server::projection::names::NameCopy;
use crate::server::projection::write::Ran;
use crate::server::projection::{self, Limits};
use crate::server::store::{Store, StoreError};

/// Stores the effect of `event` and tells every web process about it. Shared by the
/// consumer and `replay`; applying an event twice changes nothing the second time.
pub async fn apply_event(
    store: &Store,
    publisher: &Publisher,
    limits: &Limits,
    event: &Event,
) -> Result<Disposition, StoreError> {
    let outcomes = apply_events(store, publisher, limits, std::slice::from_ref(event)).await?;
    outcomes
        .into_iter()
        .next()
        .unwrap_or(Ok(Disposition::Unknown))
}

/// Stores the customer parts of a batch of events, then the events' effects in one round
/// trip (see `projection::batch`), and publishes the batch's changes
/// together: one per changed conversation, with its state after the batch. A conversation
/// changed by exactly one event of the batch gets that event's message in its change, so
/// an open transcript grows without a refetch. An event whose write the store refused
/// gets its error.
pub async fn apply_events(
    store: &Store,
    publisher: &Publisher,
    limits: &Limits,
    events: &[Event],
) -> Result<Vec<Result<Disposition, StoreError>>, StoreError> {
    let mut dispositions: Vec<Result<Disposition, StoreError>> =
        events.iter().map(|_| Ok(Disposition::Unknown)).collect();
    let mut writes = Vec::with_capacity(events.len());
    let mut planned = Vec::with_capacity(events.len());
    let mut messages = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        match projection::plan(event, limits) {
            Some(projection) => {
                writes.push((event.conv().to_owned(), projection.guard, projection.update));
                messages.push(projection.message);
                planned.push(i);
            }
            None => tracing::debug!(typ = %event.envelope.typ, "unknown event type"),
        }
    }
    let facts: Vec<CustomerFacts> = events.iter().filter_map(CustomerFacts::of).collect();
    let names = merge_customers(store, &facts).await?;
    let BatchOutcome {
        events: applied,
        renamed,
    } = write_batch(store, &writes, &names).await?;

    // Which conversations changed, and by how many events (in first-change order), with
    // each one's place in that list: a batch holds up to a thousand events.
    let mut changed: Vec<(String, usize, Option<crate::api::Message>)> = Vec::new();
    let mut place: HashMap<String, usize> = HashMap::new();
    for ((&i, outcome), message) in planned.iter().zip(applied).zip(messages) {
        match outcome {
            Ok(true) => dispositions[i] = Ok(Disposition::Applied),
            Ok(false) => {
                dispositions[i] = Ok(Disposition::Duplicate);
                continue;
            }
            Err(reason) => {
                dispositions[i] = Err(StoreError::Write(reason));
                continue;
            }
        }
        let conv = events[i].conv();
        match place.get(conv) {
            Some(&at) => changed[at].1 += 1,
            None => {
                place.insert(conv.to_owned(), changed.len());
                changed.push((conv.to_owned(), 1, message));
            }
        }
    }
    for conv in renamed {
        if !place.contains_key(&conv) {
            place.insert(conv.clone(), changed.len());
            changed.push((conv, 2, None));
        }
    }
    // Every settled entry goes on its conversation's timeline, beside the summaries' read.
    let arrivals: Vec<(&str, Arrival)> = events
        .iter()
        .zip(&dispositions)
        .filter_map(|(event, disposition)| {
            let outcome = match disposition {
                Ok(Disposition::Applied) => Outcome::Applied,
                Ok(Disposition::Duplicate) => Outcome::Duplicate,
                Ok(Disposition::Unknown) => Outcome::Ignored,
                Ok(Disposition::DeadLettered) | Err(_) => return None,
            };
            Some((event.conv(), arrival(event, outcome)))
        })
        .collect();
    // Conversations whose timeline grew but which did not change.
    let mut quiet: Vec<String> = arrivals
        .iter()
        .filter(|(conv, _)| !place.contains_key(*conv))
        .map(|(conv, _)| (*conv).to_owned())
        .collect();
    quiet.sort_unstable();
    quiet.dedup();
    let ids: Vec<String> = changed.iter().map(|(c, _, _)| c.clone()).collect();
    let (summaries, ()) = tokio::try_join!(
        async {
            if ids.is_empty() {
                Ok(HashMap::new())
            } else {
                store.summaries(&ids).await
            }
        },
        store.record_arrivals(&arrivals)
    )?;
    let mut summaries = summaries;
    if !quiet.is_empty()
        && let Err(e) = publisher.publish_arrivals(quiet).await
    {
        tracing::warn!(error = %e, "timeline notices not published");
    }
    if changed.is_empty() {
        return Ok(dispositions);
    }
    let changes: Vec<Change> = changed
        .into_iter()
        .filter_map(|(conv, count, message)| {
            let conversation = summaries.remove(&conv)?;
            Some(Change {
                conversation,
                message: message.filter(|_| count == 1),
            })
        })
        .collect();
    // The effects are stored; a lost notice is repaired by the browsers' resync, so it
    // does not hold up the stream.
    if let Err(e) = publisher.publish(changes).await {
        tracing::warn!(error = %e, "change notices not published");
    }
    Ok(dispositions)
}

/// Stores what a batch's events say of their customers, one write per customer (see
/// `projection::customer`), and returns each one's merged name with the conversations it
/// reaches (see `projection::names`). This comes first, so that the names can ride along
/// in the conversations' own writes; it is idempotent by itself, so an event whose
/// conversation write the store refuses has it stored all the same, and its retries
/// repeat it harmlessly. Three round trips whatever the batch holds.
pub async fn merge_customers(
    store: &Store,
    facts: &[CustomerFacts],
) -> Result<Vec<NameCopy>, StoreError> {
    let merges = customer::merge(facts);
    if merges.is_empty() {
        return Ok(Vec::new());
    }
    let ran = store
        .run(merges.iter().map(|m| m.write(true)).collect())
        .await?;
    refused(&ran)?;
    if !ran.collided.is_empty() {
        // Another writer created these customers a moment ago: they exist now.
        let again = ran.collided.iter().map(|&i| merges[i].write(false));
        refused(&store.run(again.collect()).await?)?;
    }
    let ids: Vec<&str> = merges.iter().map(|m| m.id).collect();
    let mut copies = NameCopy::plan(&merges, store.customer_names(&ids).await?);
    let shown = store.shown_names(&NameCopy::conversations(&copies)).await?;
    for copy in &mut copies {
        copy.look(&shown);
    }
    Ok(copies)
}

/// Writes the events and the name copies: one round trip when nothing collides, two at
/// most (see `projection::batch`).
pub async fn write_batch(
    store: &Store,
    writes: &[EventWrite],
    names: &[NameCopy],
) -> Result<BatchOutcome, StoreError> {
    let batch = Batch::plan(writes, names);
    let ran = store.run(batch.writes()).await?;
    match batch.settle(ran).map_err(StoreError::Write)? {
        Settled::Done(outcome) => Ok(outcome),
        Settled::Retry(retry) => {
            let ran = store.run(retry.writes()).await?;
            retry.settle(ran).map_err(StoreError::Write)
        }
    }
}

/// The first refusal of a write that must not fail alone, as the batch's error: the
/// entries stay pending and are retried one at a time, so only the one that keeps
/// failing is set aside.
fn refused(ran: &Ran) -> Result<(), StoreError> {
    match Ran::refusal(&ran.outcomes) {
        Some(reason) => Err(StoreError::Write(reason.to_owned())),
        None => Ok(()),
    }
}

/// `event`'s record on its conversation's timeline.
pub fn arrival(event: &Event, outcome: Outcome) -> Arrival {
    let envelope = &event.envelope;
    Arrival {
        entry_id: envelope.entry_id.clone(),
        typ: envelope.typ.clone(),
        seq: envelope.seq,
        agent: Some(envelope.agent.clone()).filter(|a| !a.is_empty()),
        at_ms: Some(event.at_ms),
        outcome,
        reason: None,
    }
}
