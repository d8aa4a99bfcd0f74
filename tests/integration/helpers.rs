//! A fresh, isolated ledger + store per test, and the contract fixtures.

use std::time::Duration;

#[path = "../support/fixtures.rs"]
mod fixtures;
pub use fixtures::{expected, fixture, fixture_fields};

use billie_dashboard::server::feed::Publisher;
use billie_dashboard::server::ingest::{Consumer, ConsumerConfig, Outcome, Report};
use billie_dashboard::server::store::Store;
use redis::AsyncCommands;

pub struct TestEnv {
    pub redis: redis::Client,
    pub conn: redis::aio::MultiplexedConnection,
    pub store: Store,
    pub stream: String,
    pub group: String,
    pub dead_stream: String,
    pub channel: String,
    /// The test's database, for setting up states ingest itself would never write.
    pub db: mongodb::Database,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which starts the servers")
    })
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestEnv {
    pub async fn new() -> Self {
        let redis = redis::Client::open(env("TEST_REDIS_URL")).unwrap();
        let conn = redis.get_multiplexed_async_connection().await.unwrap();
        let name = unique("t");
        let database_uri = format!(
            "{}/{name}?directConnection=true&retryWrites=false&maxIdleTimeMS=60000",
            env("TEST_MONGODB_URL").trim_end_matches('/')
        );
        let store = Store::connect(&database_uri).await.unwrap();
        let db = mongodb::Client::with_uri_str(&database_uri)
            .await
            .unwrap()
            .default_database()
            .unwrap();
        let stream = format!("{name}:chatLedger");
        Self {
            redis,
            conn,
            store,
            group: "supervisor-dashboard".into(),
            dead_stream: format!("{stream}:dead"),
            channel: format!("{stream}:changes"),
            stream,
            db,
        }
    }

    pub async fn consumer(&self, name: &str) -> Consumer {
        self.consumer_with(name, |_| {}).await
    }

    /// A consumer whose settings `adjust` changes from the tests' defaults.
    pub async fn consumer_with(
        &self,
        name: &str,
        adjust: impl FnOnce(&mut ConsumerConfig),
    ) -> Consumer {
        Consumer::connect(
            &self.redis,
            self.store.clone(),
            self.publisher().await,
            Default::default(),
            self.config(name, adjust),
        )
        .await
        .unwrap()
    }

    /// The `n` consumers one process named `name` runs, with `adjust`ed settings.
    pub async fn members(
        &self,
        name: &str,
        n: usize,
        adjust: impl FnOnce(&mut ConsumerConfig),
    ) -> Vec<Consumer> {
        Consumer::connect_members(
            &self.redis,
            self.store.clone(),
            self.publisher().await,
            Default::default(),
            &self.config(name, adjust),
            n,
        )
        .await
        .unwrap()
    }

    fn config(&self, name: &str, adjust: impl FnOnce(&mut ConsumerConfig)) -> ConsumerConfig {
        let mut config = ConsumerConfig {
            batch: 16,
            block: Duration::from_millis(50),
            ..ConsumerConfig::new(&self.stream, &self.group, name, &self.dead_stream)
        };
        adjust(&mut config);
        config
    }

    pub async fn publisher(&self) -> Publisher {
        Publisher::new(
            redis::aio::ConnectionManager::new(self.redis.clone())
                .await
                .unwrap(),
            self.channel.clone(),
        )
    }

    /// XADDs each entry's fields, in order.
    pub async fn append(&self, entries: &[Vec<(String, String)>]) {
        let mut conn = self.conn.clone();
        for fields in entries {
            let _: String = conn.xadd(&self.stream, "*", fields).await.unwrap();
        }
    }

    /// Steps `consumer` until the stream has nothing more for it; the summed report.
    pub async fn drain(&self, consumer: &mut Consumer) -> Report {
        let mut total = Report::default();
        for _ in 0..1000 {
            match consumer.try_execute_task().await.unwrap() {
                Outcome::Idle => return total,
                Outcome::Processed(r) => {
                    total.applied += r.applied;
                    total.duplicates += r.duplicates;
                    total.dead_lettered += r.dead_lettered;
                    total.unknown += r.unknown;
                }
            }
        }
        panic!("the consumer never went idle");
    }

    /// Consumer `name` takes up to `count` new entries and never acknowledges them (it
    /// crashed); their ids.
    pub async fn read_and_crash(&self, name: &str, count: usize) -> Vec<String> {
        self.read_group(name, count, ">").await
    }

    /// Consumer `name` re-reads up to `count` of its pending entries (delivering them once
    /// more) and crashes again; their ids.
    pub async fn read_pending(&self, name: &str, count: usize) -> Vec<String> {
        self.read_group(name, count, "0").await
    }

    async fn read_group(&self, name: &str, count: usize, from: &str) -> Vec<String> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(name)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(from)
            .query_async(&mut conn)
            .await
            .unwrap();
        reply
            .keys
            .into_iter()
            .flat_map(|k| k.ids)
            .map(|e| e.id)
            .collect()
    }

    /// Each fixture conversation has the message count `expected.json` gives.
    pub async fn assert_expected_message_counts(&self) {
        for want in expected() {
            let id = want["conversation_id"].as_str().unwrap();
            let got = self.store.get_conversation(id).await.unwrap().unwrap();
            let messages = want["messages"].as_u64().unwrap();
            assert_eq!(got.messages.len() as u64, messages, "messages of {id}");
            assert_eq!(got.summary.message_count as u64, messages, "count of {id}");
        }
    }

    /// Waits until every pending entry has been idle (by Redis's clock) at least `idle`.
    pub async fn wait_idle(&self, idle: Duration) {
        let mut conn = self.conn.clone();
        let least = idle.as_millis() as u64;
        loop {
            let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("-")
                .arg("+")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            if reply
                .ids
                .iter()
                .all(|e| e.last_delivered_ms as u64 >= least)
            {
                return;
            }
            // Redis keeps the time; ask again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Entries delivered to the group but not acknowledged.
    pub async fn pending(&self) -> usize {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamPendingReply =
            conn.xpending(&self.stream, &self.group).await.unwrap();
        reply.count()
    }
}

/// A web process's tally (`server::tally`) following this environment's live feed, as
/// the web process starts it; it loads from the store on its own.
pub fn following_tally(env: &TestEnv) -> billie_dashboard::server::tally::Tally {
    let hub = billie_dashboard::server::feed::Hub::new(env.channel.clone());
    tokio::spawn(hub.clone().relay(env.redis.clone()));
    let tally = billie_dashboard::server::tally::Tally::default();
    tokio::spawn(tally.clone().follow(hub, env.store.clone()));
    tally
}

/// An entry's fields from literal pairs.
pub fn entry(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A customer's message (`user_input`) to `conv`, with its `seq` and time.
pub fn user_input(conv: &str, seq: &str, at: &str) -> Vec<(String, String)> {
    entry(&[
        ("conv", conv),
        ("typ", "user_input"),
        ("agt", "broker"),
        ("seq", seq),
        (
            "payload",
            &format!(r#"{{"utterance":"hi","created_at":"{at}"}}"#),
        ),
    ])
}
