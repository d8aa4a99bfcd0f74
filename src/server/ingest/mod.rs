//! The ledger consumer. It reads `chatLedger` through a consumer group a batch at a time,
//! writes the batch's projections in one round trip, publishes the batch's changes (one
//! per changed conversation) and only then acknowledges the entries, so an entry whose
//! effect is not stored is never lost: it stays pending and is read again.
//!
//! [`Consumer::try_execute_task`] does one step (one batch) and says what happened; the
//! background loop in [`run`] calls it forever, and tests call it step by step.
//!
//! A process runs a few consumers ([`Consumer::connect_members`]). The store takes a
//! collection's writes one at a time, so under a backlog one consumer reads and prepares
//! its batch while another's is stored. Live traffic is better taken in by one consumer,
//! in fewer and larger steps: the others read new entries only while the first one's
//! reads come back full ([`Backlog`]).

mod apply;
pub mod dead_letter;
pub mod failures;
mod replay;

pub use apply::{apply_event, apply_events, merge_customers, write_batch};
pub use replay::replay;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::{
    AsyncCommands, RedisError, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    streams::{StreamId, StreamReadOptions, StreamReadReply},
};
use tokio::sync::{Notify, watch};

use crate::api::Arrival;
use crate::backoff::Backoff;
use crate::contract::{Event, ParseError, RawEntry};
use crate::server::feed::Publisher;
use crate::server::metrics::{Disposition, Metrics};
use crate::server::projection::Limits;
use crate::server::store::{Store, StoreError};

use failures::Failures;

/// Entries read per XREADGROUP unless configured (`INGEST_BATCH`).
pub const DEFAULT_BATCH: usize = 2000;

/// Consumers one process runs unless configured (`INGEST_CONSUMERS`): two, so that under
/// a backlog one reads and prepares its batch while the other's is stored (on two cores,
/// about half as many events a second again as one consumer).
pub const DEFAULT_MEMBERS: usize = 2;

/// Whether the ledger has a backlog, as the first consumer of a process last read it (a
/// full batch). The process's other consumers read new entries only then.
#[derive(Debug, Default)]
pub struct Backlog {
    full: AtomicBool,
    changed: Notify,
}

impl Backlog {
    fn set(&self, full: bool) {
        if self.full.swap(full, Ordering::Relaxed) != full && full {
            self.changed.notify_waiters();
        }
    }

    /// Whether there is a backlog, waiting up to `limit` for one.
    async fn wait(&self, limit: Duration) -> bool {
        let changed = self.changed.notified();
        if self.full.load(Ordering::Relaxed) {
            return true;
        }
        let _ = tokio::time::timeout(limit, changed).await;
        self.full.load(Ordering::Relaxed)
    }
}

/// How a consumer shares the new entries with the other consumers of its process.
#[derive(Debug)]
enum Share {
    /// The only one.
    Alone,
    /// The first: always reads, and says whether its reads come back full.
    Lead(Arc<Backlog>),
    /// Another one: reads new entries only while there is a backlog.
    Helper(Arc<Backlog>),
}

/// Where the consumer reads and who it is in the group.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub stream: String,
    pub group: String,
    pub consumer: String,
    pub dead_stream: String,
    pub batch: usize,
    pub block: Duration,
    pub limits: Limits,
    /// Failures (the store refused the entry's write) after which an entry goes to the
    /// dead-letter stream. Deliveries to processes that died do not count (see
    /// [`failures`]).
    pub max_failures: usize,
    /// Entries pending on another consumer for this long are claimed (that consumer is
    /// taken to be dead).
    pub claim_idle: Duration,
}

impl ConsumerConfig {
    /// The contract's defaults for `stream`, read by `consumer`.
    pub fn new(stream: &str, group: &str, consumer: &str, dead_stream: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            dead_stream: dead_stream.to_owned(),
            batch: DEFAULT_BATCH,
            block: Duration::from_secs(2),
            limits: Limits::default(),
            max_failures: 5,
            claim_idle: Duration::from_secs(60),
        }
    }
}

/// The members one process runs in the group: `consumer` first, then `consumer-2`, … up
/// to `members` (at least one). The names stay the same across restarts, so each finds
/// its own unacknowledged entries.
fn members(config: &ConsumerConfig, members: usize) -> Vec<ConsumerConfig> {
    (1..=members.max(1))
        .map(|n| ConsumerConfig {
            consumer: match n {
                1 => config.consumer.clone(),
                n => format!("{}-{n}", config.consumer),
            },
            ..config.clone()
        })
        .collect()
}

/// Why a step failed. The entries of the step that were not acknowledged stay pending and
/// are read again by the next step.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The store refused an entry's write (the reason is already recorded).
    #[error("{0}")]
    Refused(String),
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries whose effect was stored.
    pub applied: usize,
    /// Entries whose effect had been stored before.
    pub duplicates: usize,
    /// Entries that break the contract, moved to the dead-letter stream.
    pub dead_lettered: usize,
    /// Entries of a type the contract does not know.
    pub unknown: usize,
}

impl Report {
    pub fn add(&mut self, disposition: Disposition) {
        let count = match disposition {
            Disposition::Applied => &mut self.applied,
            Disposition::Duplicate => &mut self.duplicates,
            Disposition::DeadLettered => &mut self.dead_lettered,
            Disposition::Unknown => &mut self.unknown,
        };
        *count += 1;
    }

    pub fn entries(&self) -> usize {
        self.applied + self.duplicates + self.dead_lettered + self.unknown
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to read within the block time.
    Idle,
    /// A batch was read and every entry of it acknowledged.
    Processed(Report),
}

pub struct Consumer {
    redis: ConnectionManager,
    store: Store,
    publisher: Publisher,
    metrics: Arc<Metrics>,
    config: ConsumerConfig,
    /// True until this consumer's own pending entries (left by a crash, a failed step or
    /// a claim) have been re-read; new entries are read only after them.
    recovering: bool,
    /// True while the last step failed. Retries read one pending entry at a time, so a
    /// refusal of a whole step is known to be that entry's, not those behind it.
    retrying: bool,
    failures: Failures,
    /// Where the next XAUTOCLAIM scan starts, and when it is due.
    claim_cursor: String,
    next_claim: Instant,
    share: Share,
}

impl Consumer {
    /// Connects with its own Redis connection (blocking reads must not hold up other
    /// commands, and need the response timeout off; it reconnects by itself after a
    /// Redis restart) and creates the group if missing.
    pub async fn connect(
        client: &redis::Client,
        store: Store,
        publisher: Publisher,
        metrics: Arc<Metrics>,
        config: ConsumerConfig,
    ) -> Result<Self, IngestError> {
        let redis = ConnectionManager::new_with_config(
            client.clone(),
            ConnectionManagerConfig::new().set_response_timeout(None),
        )
        .await?;
        let mut consumer = Self {
            failures: Failures::new(&config.stream),
            redis,
            store,
            publisher,
            metrics,
            config,
            recovering: true,
            retrying: false,
            claim_cursor: "0-0".to_owned(),
            next_claim: Instant::now(),
            share: Share::Alone,
        };
        consumer.ensure_group().await?;
        Ok(consumer)
    }

    /// The `members` consumers of one process (at least one), named after `config`'s
    /// consumer (see [`members`]). The first always reads; the others read new entries
    /// only while the first one's reads come back full.
    pub async fn connect_members(
        client: &redis::Client,
        store: Store,
        publisher: Publisher,
        metrics: Arc<Metrics>,
        config: &ConsumerConfig,
        members: usize,
    ) -> Result<Vec<Self>, IngestError> {
        let backlog = Arc::new(Backlog::default());
        let mut consumers = Vec::new();
        for (n, member) in self::members(config, members).into_iter().enumerate() {
            let mut consumer = Self::connect(
                client,
                store.clone(),
                publisher.clone(),
                metrics.clone(),
                member,
            )
            .await?;
            consumer.share = match (n, members) {
                (_, 0 | 1) => Share::Alone,
                (0, _) => Share::Lead(backlog.clone()),
                _ => Share::Helper(backlog.clone()),
            };
            consumers.push(consumer);
        }
        Ok(consumers)
    }

    /// `XGROUP CREATE ... 0 MKSTREAM`: a new group starts at the beginning of the stream.
    async fn ensure_group(&mut self) -> Result<(), IngestError> {
        let created: Result<(), RedisError> = self
            .redis
            .xgroup_create_mkstream(&self.config.stream, &self.config.group, "0")
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    /// Reads one batch (first this consumer's pending entries, then new ones), applies
    /// it, and acknowledges what was stored.
    pub async fn try_execute_task(&mut self) -> Result<Outcome, IngestError> {
        let result = self.step().await;
        match &result {
            Err(_) => {
                self.recovering = true;
                self.retrying = true;
            }
            Ok(Outcome::Processed(_)) => self.retrying = false,
            Ok(Outcome::Idle) => {}
        }
        result
    }

    async fn step(&mut self) -> Result<Outcome, IngestError> {
        if !self.recovering && Instant::now() >= self.next_claim {
            self.recovering = self.claim_stale().await? > 0;
            self.next_claim = Instant::now() + self.config.claim_idle.min(Duration::from_secs(30));
        }
        let mut entries = Vec::new();
        // Only re-read entries can have failed before.
        let mut failed = HashMap::new();
        if self.recovering {
            entries = self.read("0").await?;
            self.recovering = !entries.is_empty();
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            failed = self.failures.load(&mut self.redis, &ids).await?;
        }
        if entries.is_empty() {
            if let Share::Helper(backlog) = &self.share
                && !backlog.wait(self.config.block).await
            {
                return Ok(Outcome::Idle);
            }
            entries = self.read(">").await?;
            if let Share::Lead(backlog) = &self.share {
                backlog.set(entries.len() >= self.config.batch);
            }
        }
        if entries.is_empty() {
            return Ok(Outcome::Idle);
        }
        let started = Instant::now();
        let mut report = Report::default();
        let mut done = Vec::with_capacity(entries.len());
        let mut events = Vec::with_capacity(entries.len());
        let mut failure = None;
        let mut refusals = Vec::new();
        // Entries that cannot be applied go to the dead-letter stream one by one; the rest
        // are applied together.
        for entry in &entries {
            let refused = failures::verdict(failed.get(&entry.id), self.config.max_failures)
                .or_else(
                    || match raw_entry(entry).and_then(|raw| Event::parse(&raw)) {
                        Ok(event) => {
                            events.push((entry.id.as_str(), event));
                            None
                        }
                        Err(reason) => Some(reason.to_string()),
                    },
                );
            if let Some(reason) = refused {
                match self.dead_letter(entry, &reason, &mut report).await {
                    Ok(()) => {
                        done.push(entry.id.as_str());
                        refusals.extend(dead_letter::arrival(entry, &reason));
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if failure.is_none() && !events.is_empty() {
            let batch: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
            match apply_events(&self.store, &self.publisher, &self.config.limits, &batch).await {
                Ok(outcomes) => {
                    for ((id, event), outcome) in events.iter().zip(outcomes) {
                        match outcome {
                            Ok(disposition) => {
                                report.add(disposition);
                                self.metrics.count(disposition, event.kind.name());
                                done.push(id);
                            }
                            // The store refused this entry's write: a failure of its own. It
                            // stays pending, and is retried alone.
                            Err(e) => {
                                let reason = IngestError::from(e).to_string();
                                self.failures.record(&mut self.redis, id, &reason).await?;
                                failure.get_or_insert(IngestError::Refused(reason));
                            }
                        }
                    }
                }
                Err(e) => failure = Some(e.into()),
            }
        }
        // A step of one entry that the store refused as a whole (not an outage) is that
        // entry's failure.
        if let (Some(IngestError::Store(e)), [entry]) = (&failure, entries.as_slice())
            && e.is_refusal()
        {
            self.failures
                .record(&mut self.redis, &entry.id, &e.to_string())
                .await?;
        }
        if !refusals.is_empty() {
            self.record_refusals(&refusals).await;
        }
        if !done.is_empty() {
            let _: usize = self
                .redis
                .xack(&self.config.stream, &self.config.group, &done)
                .await?;
            let settled: Vec<&str> = done
                .iter()
                .copied()
                .filter(|id| failed.contains_key(*id))
                .collect();
            self.failures.clear(&mut self.redis, &settled).await?;
            let now = std::time::SystemTime::now();
            for id in &done {
                if let Some(added) = added_at(id) {
                    let age = now.duration_since(added).unwrap_or_default();
                    self.metrics.acknowledged(age);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                self.metrics.batch(started.elapsed());
                Ok(Outcome::Processed(report))
            }
        }
    }

    /// Takes over entries that have waited on some consumer longer than `claim_idle`:
    /// their consumer has died. Returns how many were claimed; they are processed as
    /// this consumer's pending entries.
    async fn claim_stale(&mut self) -> Result<usize, IngestError> {
        let (next, claimed, _deleted): (String, Vec<String>, Vec<String>) =
            redis::cmd("XAUTOCLAIM")
                .arg(&self.config.stream)
                .arg(&self.config.group)
                .arg(&self.config.consumer)
                .arg(self.config.claim_idle.as_millis() as u64)
                .arg(&self.claim_cursor)
                .arg("COUNT")
                .arg(self.config.batch)
                .arg("JUSTID")
                .query_async(&mut self.redis)
                .await?;
        if !claimed.is_empty() {
            tracing::info!(
                entries = claimed.len(),
                "claimed entries of a stalled consumer"
            );
        }
        self.claim_cursor = next;
        Ok(claimed.len())
    }

    /// XREADGROUP from `from`: `0` re-reads this consumer's pending entries, `>` waits up
    /// to the block time for new ones.
    async fn read(&mut self, from: &str) -> Result<Vec<StreamId>, IngestError> {
        let count = if self.retrying && from == "0" {
            1
        } else {
            self.config.batch
        };
        let mut options = StreamReadOptions::default()
            .group(&self.config.group, &self.config.consumer)
            .count(count);
        if from == ">" {
            options = options.block(self.config.block.as_millis() as usize);
        }
        let streams = [self.config.stream.clone()];
        let mut reply: Result<Option<StreamReadReply>, RedisError> =
            self.redis.xread_options(&streams, &[from], &options).await;
        if matches!(&reply, Err(e) if e.code() == Some("NOGROUP")) {
            // The stream or the group was deleted under us: start again from its start.
            tracing::warn!(stream = %self.config.stream, "consumer group missing: recreating it");
            self.ensure_group().await?;
            reply = self.redis.xread_options(&streams, &[from], &options).await;
        }
        Ok(reply?
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    /// Puts refused entries on their conversations' timelines, and tells the browsers. Best
    /// effort: the entries are already in the dead-letter stream with their reasons, and
    /// failing the step here would leave them pending, to be dead-lettered again.
    async fn record_refusals(&self, refusals: &[(String, Arrival)]) {
        let arrivals: Vec<(&str, Arrival)> = refusals
            .iter()
            .map(|(conv, a)| (conv.as_str(), a.clone()))
            .collect();
        if let Err(e) = self.store.record_arrivals(&arrivals).await {
            tracing::warn!(error = %e, refused = arrivals.len(), "refusals not put on their timelines");
            return;
        }
        let mut conversations: Vec<String> = refusals.iter().map(|(c, _)| c.clone()).collect();
        conversations.sort_unstable();
        conversations.dedup();
        if let Err(e) = self.publisher.publish_arrivals(conversations).await {
            tracing::warn!(error = %e, "timeline notices not published");
        }
    }

    async fn dead_letter(
        &mut self,
        entry: &StreamId,
        reason: &impl std::fmt::Display,
        report: &mut Report,
    ) -> Result<(), IngestError> {
        tracing::warn!(entry = %entry.id, %reason, "entry moved to the dead-letter stream");
        dead_letter::copy(&mut self.redis, &self.config, entry, &reason.to_string()).await?;
        report.add(Disposition::DeadLettered);
        let typ = match entry.map.get("typ") {
            Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => "(none)".to_owned(),
        };
        self.metrics.count(Disposition::DeadLettered, &typ);
        Ok(())
    }
}

/// When Redis added the entry with id `id` (`<milliseconds>-<sequence>`).
fn added_at(id: &str) -> Option<std::time::SystemTime> {
    let (millis, _) = id.split_once('-')?;
    let millis = millis.parse::<u64>().ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// The entry's fields as text; a value that is not UTF-8 breaks the contract.
pub fn raw_entry(entry: &StreamId) -> Result<RawEntry, ParseError> {
    // XADD needs at least one field: an entry without any was removed while pending.
    if entry.map.is_empty() {
        return Err(ParseError::Removed);
    }
    let mut fields = Vec::with_capacity(entry.map.len());
    for (name, value) in &entry.map {
        let text = match value {
            Value::BulkString(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| ParseError::NotText(name.clone()))?
                .to_owned(),
            Value::SimpleString(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err(ParseError::NotText(name.clone())),
        };
        fields.push((name.clone(), text));
    }
    Ok(RawEntry::new(entry.id.clone(), fields))
}

/// Runs the consumer until `shutdown` turns true, backing off after failures. A step in
/// hand is always finished (and its entries acknowledged) before stopping.
pub async fn run(mut consumer: Consumer, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    tracing::info!(
        stream = %consumer.config.stream,
        group = %consumer.config.group,
        consumer = %consumer.config.consumer,
        "ingest started"
    );
    while !*shutdown.borrow() {
        match consumer.try_execute_task().await {
            Ok(Outcome::Processed(report)) => {
                backoff.reset();
                tracing::debug!(?report, "batch applied");
            }
            Ok(Outcome::Idle) => backoff.reset(),
            Err(e) => {
                let wait = backoff.delay(rand::random());
                tracing::warn!(error = %e, retry_in = ?wait, "ingest step failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    tracing::info!("ingest stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_s_members_keep_its_name_first_then_number_the_others() {
        let config = ConsumerConfig::new("ledger", "group", "web-1", "ledger:dead");
        let names = |n| -> Vec<String> {
            members(&config, n)
                .into_iter()
                .map(|m| m.consumer)
                .collect()
        };
        assert_eq!(names(3), ["web-1", "web-1-2", "web-1-3"]);
        assert_eq!(names(0), ["web-1"], "at least one");
    }

    #[test]
    fn an_entry_id_tells_when_redis_added_it() {
        let added = added_at("1764230400000-7").unwrap();
        let millis = added.duration_since(std::time::UNIX_EPOCH).unwrap();
        assert_eq!(millis, Duration::from_millis(1_764_230_400_000));
        assert_eq!(added_at("not-an-id"), None);
        assert_eq!(added_at("12345"), None);
    }
}
