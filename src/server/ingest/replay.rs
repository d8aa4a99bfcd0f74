//! Rebuilding the projections from the stream's first entry. Every event goes through the
//! same [`apply_event`] as live ingest, whose effects are recorded with the event's
//! identity, so a replay is idempotent and safe while live ingest runs. It reads with
//! XRANGE, outside the consumer group: nothing is acknowledged or claimed, and entries
//! that break the contract, or that the store refuses, are counted, not dead-lettered
//! again.

use redis::{AsyncCommands, aio::ConnectionManager, streams::StreamRangeReply};

use super::{IngestError, Report, apply_event, raw_entry};
use crate::contract::Event;
use crate::server::feed::Publisher;
use crate::server::metrics::Disposition;
use crate::server::projection::Limits;
use crate::server::store::Store;

pub async fn replay(
    redis: &mut ConnectionManager,
    store: &Store,
    publisher: &Publisher,
    stream: &str,
    limits: &Limits,
    batch: usize,
) -> Result<Report, IngestError> {
    let mut report = Report::default();
    let mut start = "-".to_owned();
    loop {
        let page: StreamRangeReply = redis.xrange_count(stream, &start, "+", batch).await?;
        let Some(last) = page.ids.last() else {
            return Ok(report);
        };
        start = format!("({}", last.id);
        for entry in &page.ids {
            match raw_entry(entry).and_then(|raw| Event::parse(&raw)) {
                Ok(event) => match apply_event(store, publisher, limits, &event).await {
                    Ok(disposition) => report.add(disposition),
                    // An entry the store refuses (live ingest dead-letters it) is counted
                    // and passed over; an unreachable store stops the replay.
                    Err(e) if e.is_refusal() => {
                        tracing::warn!(entry = %entry.id, error = %e, "entry refused by the store");
                        report.add(Disposition::DeadLettered);
                    }
                    Err(e) => return Err(e.into()),
                },
                Err(_) => report.add(Disposition::DeadLettered),
            }
        }
        tracing::info!(entries = report.entries(), "replaying");
    }
}
