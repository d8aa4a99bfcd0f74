//! Ingest throughput, from the first XADD to the last entry's projection stored (the
//! consumer acknowledges an entry only after its effect is stored), for the product's
//! consumers (as many members of the group as one dashboard process runs, side by side)
//! and, beside them on the same load, a naive one: batches of 10 read from the group,
//! then one store write per event, a notice per event, and one XACK per batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use billie_dashboard::api::Change;
use billie_dashboard::contract::Event;
use billie_dashboard::server::feed::Publisher;
use billie_dashboard::server::ingest::{self, Consumer, ConsumerConfig, Outcome, raw_entry};
use billie_dashboard::server::metrics::Metrics;
use billie_dashboard::server::projection::customer::CustomerFacts;
use billie_dashboard::server::projection::{self, Limits, coalesce};
use billie_dashboard::server::store::{Applied, Store};
use mongodb::bson::doc;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::load::{Entry, Load};
use crate::{BenchError, Env};

pub struct Throughput {
    pub events: usize,
    pub conversations: usize,
    pub took: Duration,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.took.as_secs_f64()
    }
}

pub struct Figures {
    pub batched: Throughput,
    pub naive: Throughput,
    pub settings: Settings,
}

/// How the dashboard's consumers run: as the dashboard reads `INGEST_CONSUMERS` and
/// `INGEST_BATCH` from the environment, the product's defaults otherwise.
#[derive(Clone, Copy)]
pub struct Settings {
    pub members: usize,
    pub batch: usize,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            members: var("INGEST_CONSUMERS", ingest::DEFAULT_MEMBERS),
            batch: var("INGEST_BATCH", ingest::DEFAULT_BATCH),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Batched,
    Naive,
}

/// Database of the batched run, kept: its conversations seed the list benchmark.
pub const BATCHED_DB: &str = "bench_batched";

pub async fn run(env: &Env, conversations: usize) -> Result<Figures, BenchError> {
    let entries: Vec<Entry> = Load::new(1, 200, conversations).collect();
    eprintln!(
        "ingest: {} events of {conversations} conversations",
        entries.len()
    );
    let naive = measure(env, "bench_naive", &entries, conversations, Mode::Naive).await?;
    eprintln!("  naive: {:.0} events/s", naive.per_second());
    let batched = measure(env, BATCHED_DB, &entries, conversations, Mode::Batched).await?;
    eprintln!("  batched: {:.0} events/s", batched.per_second());
    Ok(Figures {
        batched,
        naive,
        settings: Settings::from_env(),
    })
}

async fn measure(
    env: &Env,
    db: &str,
    entries: &[Entry],
    conversations: usize,
    mode: Mode,
) -> Result<Throughput, BenchError> {
    let stream = format!("{db}:chatLedger");
    let group = "supervisor-dashboard";
    let client = redis::Client::open(env.redis_url.as_str())?;
    let mut redis = ConnectionManager::new(client.clone()).await?;
    let _: () = redis.del(&stream).await?;
    let _: () = redis.xgroup_create_mkstream(&stream, group, "0").await?;
    env.drop_database(db).await?;
    let store = Store::connect(&env.database_uri(db)).await?;
    let publisher = Publisher::new(redis.clone(), format!("{stream}:changes"));

    let started = Instant::now();
    let producer = {
        let mut redis = redis.clone();
        let chunks: Vec<Vec<Vec<(&'static str, String)>>> = entries
            .chunks(1000)
            .map(|c| c.iter().map(|e| e.fields.clone()).collect())
            .collect();
        let stream = stream.clone();
        tokio::spawn(async move {
            for chunk in chunks {
                let mut pipe = redis::pipe();
                for fields in &chunk {
                    pipe.xadd(&stream, "*", fields).ignore();
                }
                pipe.query_async::<()>(&mut redis).await?;
            }
            Ok::<(), redis::RedisError>(())
        })
    };
    match mode {
        Mode::Batched => {
            let mut config =
                ConsumerConfig::new(&stream, group, "bench", &format!("{stream}:dead"));
            let settings = Settings::from_env();
            config.batch = settings.batch;
            let consumers = Consumer::connect_members(
                &client,
                store.clone(),
                publisher,
                Arc::new(Metrics::default()),
                &config,
                settings.members,
            )
            .await?;
            drain(consumers, entries.len()).await?;
        }
        Mode::Naive => naive(&client, &store, &publisher, &stream, group, entries.len()).await?,
    }
    let took = started.elapsed();
    producer.await??;
    check(env, db, entries, conversations).await?;
    Ok(Throughput {
        events: entries.len(),
        conversations,
        took,
    })
}

/// Runs `consumers` side by side until they have acknowledged `total` entries between them.
/// The others are then stopped, waiting for entries that will not come.
async fn drain(consumers: Vec<Consumer>, total: usize) -> Result<(), BenchError> {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (finished, mut end) = tokio::sync::mpsc::channel(consumers.len());
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|mut consumer| {
            let done = done.clone();
            let finished = finished.clone();
            tokio::spawn(async move {
                loop {
                    match consumer.try_execute_task().await {
                        Ok(Outcome::Processed(report)) => {
                            let n = report.entries();
                            let seen = done.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                            if seen + n >= total {
                                let _ = finished.send(Ok(())).await;
                                return;
                            }
                        }
                        Ok(Outcome::Idle) => {}
                        Err(e) => {
                            let _ = finished.send(Err(e)).await;
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let outcome = end.recv().await;
    for task in tasks {
        task.abort();
    }
    match outcome {
        Some(Ok(())) | None => Ok(()),
        Some(Err(e)) => Err(e.into()),
    }
}

/// A straightforward consumer: read 10, store each event's effect with its own write,
/// publish its notice, acknowledge the 10.
async fn naive(
    client: &redis::Client,
    store: &Store,
    publisher: &Publisher,
    stream: &str,
    group: &str,
    total: usize,
) -> Result<(), BenchError> {
    let mut redis = ConnectionManager::new_with_config(
        client.clone(),
        ConnectionManagerConfig::new().set_response_timeout(None),
    )
    .await?;
    let limits = Limits::default();
    let options = StreamReadOptions::default()
        .group(group, "naive")
        .count(10)
        .block(2000);
    let mut done = 0;
    while done < total {
        let reply: Option<StreamReadReply> =
            redis.xread_options(&[stream], &[">"], &options).await?;
        let entries: Vec<_> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        for entry in &entries {
            let event = Event::parse(&raw_entry(entry)?)?;
            if let Some(planned) = projection::plan(&event, &limits) {
                let write = coalesce::single(event.conv(), &planned.guard, planned.update);
                let applied = store.apply(write).await?;
                if let Applied::Changed(conversation) = applied {
                    let change = Change {
                        conversation: *conversation,
                        message: planned.message,
                    };
                    publisher.publish(vec![change]).await?;
                }
                let Some(facts) = CustomerFacts::of(&event) else {
                    continue;
                };
                let names = ingest::merge_customers(store, &[facts]).await?;
                let renamed = ingest::write_batch(store, &[], &names).await?.renamed;
                for (_, conversation) in store.summaries(&renamed).await? {
                    let change = Change {
                        conversation,
                        message: None,
                    };
                    publisher.publish(vec![change]).await?;
                }
            }
        }
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        if !ids.is_empty() {
            let _: usize = redis.xack(stream, group, &ids).await?;
        }
        done += entries.len();
    }
    Ok(())
}

/// Every conversation is stored with its whole transcript and its final decision.
async fn check(
    env: &Env,
    db: &str,
    entries: &[Entry],
    conversations: usize,
) -> Result<(), BenchError> {
    let messages = entries.iter().filter(|e| e.is_message()).count() as i64;
    let stored = env
        .database(db)
        .await?
        .collection::<mongodb::bson::Document>("conversations");
    let decided = stored
        .count_documents(doc! { "status": { "$in": ["approved", "declined", "referred"] } })
        .await? as usize;
    let mut cursor = stored
        .aggregate([doc! { "$group": { "_id": null, "n": { "$sum": "$message_count" } } }])
        .await?;
    let messages_stored = if cursor.advance().await? {
        let row = cursor.deserialize_current()?;
        row.get_i64("n")
            .or_else(|_| row.get_i32("n").map(i64::from))
            .unwrap_or(0)
    } else {
        0
    };
    if decided != conversations || messages_stored != messages {
        return Err(format!(
            "projection incomplete: {decided} of {conversations} conversations decided, \
             {messages_stored} of {messages} messages stored"
        )
        .into());
    }
    Ok(())
}
