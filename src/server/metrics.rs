//! Operations endpoints: `/healthz` (the process is up), `/readyz` (Redis and the store
//! answer) and `/metrics` in the Prometheus text format. Ingest counts what it does with
//! each entry here; the consumer group's backlog is read from Redis when scraped, so any
//! process (web-only too) reports it for the whole group. Web processes serve them beside
//! the app; ingest-only processes serve them alone on `METRICS_ADDR` ([`serve`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::{Router, extract::FromRef, extract::State, http::StatusCode, response::IntoResponse};
use redis::{AsyncCommands, streams::StreamInfoGroupsReply};
use std::sync::Arc;
use tokio::sync::watch;

use crate::server::state::{AppState, Ledger};
use crate::server::store::Store;

/// How long a readiness check waits for a dependency: a store frozen mid-request (or a
/// network that drops packets) must read as down, not hang the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operations endpoints read: the dependencies and this process's counts.
#[derive(Clone)]
pub struct Ops {
    pub redis: redis::aio::ConnectionManager,
    pub store: Store,
    pub ledger: Ledger,
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for Ops {
    fn from_ref(state: &AppState) -> Self {
        Self {
            redis: state.redis.clone(),
            store: state.store.clone(),
            ledger: state.ledger.clone(),
            metrics: state.metrics.clone(),
        }
    }
}

/// The operations endpoints on their own, for processes that serve nothing else.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(ops)
}

/// Serves [`router`] on `addr` until `shutdown` turns true.
pub async fn serve(
    addr: std::net::SocketAddr,
    ops: Ops,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("operations endpoints on http://{addr}");
    Ok(tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, router(ops))
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::warn!(error = %e, "operations endpoints stopped");
        }
    }))
}

/// What ingest did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    Applied,
    Duplicate,
    DeadLettered,
    Unknown,
}

impl Disposition {
    fn metric(self) -> &'static str {
        match self {
            Self::Applied => "billie_events_applied_total",
            Self::Duplicate => "billie_events_duplicate_total",
            Self::DeadLettered => "billie_events_dead_lettered_total",
            Self::Unknown => "billie_events_unknown_type_total",
        }
    }
}

/// Upper bounds (seconds) of the histograms' buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// A Prometheus histogram of durations, updated without a lock.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, out: &mut String) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Counts by disposition, then event type.
    events: Mutex<BTreeMap<Disposition, BTreeMap<String, u64>>>,
    batches: Histogram,
    /// How old entries were when acknowledged (see [`Metrics::acknowledged`]).
    ages: Histogram,
}

impl Metrics {
    /// Called once per entry: allocates only the first time a type is seen.
    pub fn count(&self, disposition: Disposition, typ: &str) {
        let Ok(mut events) = self.events.lock() else {
            return;
        };
        let by_type = events.entry(disposition).or_default();
        match by_type.get_mut(typ) {
            Some(n) => *n += 1,
            None => {
                by_type.insert(typ.to_owned(), 1);
            }
        }
    }

    /// Time to apply and acknowledge one batch.
    pub fn batch(&self, took: Duration) {
        self.batches.observe(took);
    }

    /// An entry acknowledged (its effect stored, or its refusal recorded) `age` after
    /// Redis added it: how far the dashboard trails the chat. The age comes from the
    /// entry id's time, Redis's clock, so a skew between the two hosts shifts it.
    pub fn acknowledged(&self, age: Duration) {
        self.ages.observe(age);
    }

    /// The Prometheus text exposition, with the group's backlog if known.
    pub fn render(&self, group: Option<&GroupBacklog>) -> String {
        let mut out = String::new();
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        for (disposition, by_type) in &events {
            let name = disposition.metric();
            let _ = writeln!(out, "# TYPE {name} counter");
            for (typ, n) in by_type {
                let _ = writeln!(out, "{name}{{type=\"{}\"}} {n}", escape(typ));
            }
        }
        self.batches.render("billie_ingest_batch_seconds", &mut out);
        self.ages
            .render("billie_ingest_entry_age_seconds", &mut out);
        if let Some(group) = group {
            let _ = writeln!(out, "# TYPE billie_consumer_pending gauge");
            let _ = writeln!(out, "billie_consumer_pending {}", group.pending);
            if let Some(lag) = group.lag {
                let _ = writeln!(out, "# TYPE billie_consumer_lag gauge");
                let _ = writeln!(out, "billie_consumer_lag {lag}");
            }
        }
        out
    }
}

/// Label values may hold anything a producer wrote in `typ`.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The consumer group's backlog: delivered but unacknowledged, and not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBacklog {
    pub pending: usize,
    pub lag: Option<usize>,
}

async fn group_backlog(state: &Ops) -> Result<Option<GroupBacklog>, redis::RedisError> {
    let mut redis = state.redis.clone();
    let reply: StreamInfoGroupsReply = redis.xinfo_groups(&state.ledger.stream).await?;
    Ok(reply
        .groups
        .into_iter()
        .find(|g| g.name == state.ledger.group)
        .map(|g| GroupBacklog {
            pending: g.pending,
            lag: g.lag,
        }))
}

/// `GET /healthz`
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when Redis and the store answer within [`PROBE_TIMEOUT`], 503
/// naming what does not.
pub async fn readyz(State(state): State<Ops>) -> impl IntoResponse {
    let mut redis = state.redis.clone();
    let ping = redis::cmd("PING");
    let redis_ping = ping.query_async::<String>(&mut redis);
    let store_ping = state.store.ping();
    let (redis_ok, store_ok) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, redis_ping),
        tokio::time::timeout(PROBE_TIMEOUT, store_ping),
    );
    let (redis_ok, store_ok) = (matches!(redis_ok, Ok(Ok(_))), matches!(store_ok, Ok(Ok(_))));
    match (redis_ok, store_ok) {
        (true, true) => (StatusCode::OK, "ready".to_owned()),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: redis {}, store {}",
                if redis_ok { "ok" } else { "unreachable" },
                if store_ok { "ok" } else { "unreachable" }
            ),
        ),
    }
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Ops>) -> impl IntoResponse {
    let backlog = tokio::time::timeout(PROBE_TIMEOUT, group_backlog(&state))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(backlog.as_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_type_and_the_batch_histogram() {
        let m = Metrics::default();
        m.count(Disposition::Applied, "user_input");
        m.count(Disposition::Applied, "user_input");
        m.count(Disposition::Unknown, "odd\"type");
        m.batch(Duration::from_millis(20));
        m.acknowledged(Duration::from_millis(70));
        m.acknowledged(Duration::from_secs(2));
        let text = m.render(Some(&GroupBacklog {
            pending: 3,
            lag: Some(7),
        }));
        assert!(text.contains("billie_events_applied_total{type=\"user_input\"} 2\n"));
        assert!(text.contains("billie_events_unknown_type_total{type=\"odd\\\"type\"} 1\n"));
        assert!(text.contains("billie_ingest_batch_seconds_bucket{le=\"0.01\"} 0\n"));
        assert!(text.contains("billie_ingest_batch_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("billie_ingest_batch_seconds_count 1\n"));
        assert!(text.contains("billie_ingest_entry_age_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("billie_ingest_entry_age_seconds_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("billie_ingest_entry_age_seconds_sum 2.07\n"));
        assert!(text.contains("billie_consumer_pending 3\n"));
        assert!(text.contains("billie_consumer_lag 7\n"));
    }
}
