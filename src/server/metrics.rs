//! Operations endpoints: `/healthz` (the process is up), `/readyz` (Redis and the store
//! answer) and `/metrics` in the Prometheus text format, recorded through the `metrics`
//! crate and rendered by `metrics-exporter-prometheus`. Ingest counts what it does with
//! each entry here; the consumer group's backlog is read from Redis when scraped, so any
//! process (web-only too) reports it for the whole group. Web processes serve them beside
//! the app; ingest-only processes serve them alone on `METRICS_ADDR` ([`serve`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::{Router, extract::FromRef, extract::State, http::StatusCode, response::IntoResponse};
use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
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

const BATCH_SECONDS: &str = "billie_ingest_batch_seconds";
const ENTRY_AGE_SECONDS: &str = "billie_ingest_entry_age_seconds";
const PENDING: &str = "billie_consumer_pending";
const LAG: &str = "billie_consumer_lag";

/// This process's metrics: a Prometheus recorder of its own (not the global one, so
/// tests and benchmarks can run several consumers, each with its counts, in one process),
/// with the handles ingest uses on every entry kept, so counting is a map lookup and an
/// atomic add.
pub struct Metrics {
    recorder: PrometheusRecorder,
    /// Counters by disposition and event type, registered the first time each is seen.
    events: Mutex<BTreeMap<Disposition, BTreeMap<String, Counter>>>,
    batches: Histogram,
    /// How old entries were when acknowledged (see [`Metrics::acknowledged`]).
    ages: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        // The buckets are valid (non-empty), so this cannot fail; were it to, the
        // histograms would render as summaries rather than stop the process.
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let batches = Self::histogram(&recorder, BATCH_SECONDS);
        let ages = Self::histogram(&recorder, ENTRY_AGE_SECONDS);
        Self {
            recorder,
            events: Mutex::default(),
            batches,
            ages,
        }
    }
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

impl Metrics {
    fn histogram(recorder: &PrometheusRecorder, name: &'static str) -> Histogram {
        recorder.register_histogram(&Key::from_static_name(name), &METADATA)
    }

    /// Called once per entry: registers a counter only the first time a type is seen.
    pub fn count(&self, disposition: Disposition, typ: &str) {
        let Ok(mut events) = self.events.lock() else {
            return;
        };
        let by_type = events.entry(disposition).or_default();
        if let Some(counter) = by_type.get(typ) {
            counter.increment(1);
            return;
        }
        let labels = vec![Label::new("type", typ.to_owned())];
        let key = Key::from_parts(disposition.metric(), labels);
        let counter = self.recorder.register_counter(&key, &METADATA);
        counter.increment(1);
        by_type.insert(typ.to_owned(), counter);
    }

    /// Time to apply and acknowledge one batch.
    pub fn batch(&self, took: Duration) {
        self.batches.record(took.as_secs_f64());
    }

    /// An entry acknowledged (its effect stored, or its refusal recorded) `age` after
    /// Redis added it: how far the dashboard trails the chat. The age comes from the
    /// entry id's time, Redis's clock, so a skew between the two hosts shifts it.
    pub fn acknowledged(&self, age: Duration) {
        self.ages.record(age.as_secs_f64());
    }

    /// The Prometheus text exposition, with the group's backlog if known.
    pub fn render(&self, group: Option<&GroupBacklog>) -> String {
        if let Some(group) = group {
            let gauge = |name: &'static str| {
                self.recorder
                    .register_gauge(&Key::from_static_name(name), &METADATA)
            };
            gauge(PENDING).set(group.pending as f64);
            if let Some(lag) = group.lag {
                gauge(LAG).set(lag as f64);
            }
        }
        self.recorder.handle().render()
    }
}

/// The consumer group's backlog: delivered but unacknowledged, and not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBacklog {
    pub pending: usize,
    pub lag: Option<usize>,
}

pub async fn group_backlog(
    redis: &redis::aio::ConnectionManager,
    ledger: &Ledger,
) -> Result<Option<GroupBacklog>, redis::RedisError> {
    let mut redis = redis.clone();
    let reply: StreamInfoGroupsReply = redis.xinfo_groups(&ledger.stream).await?;
    Ok(reply
        .groups
        .into_iter()
        .find(|g| g.name == ledger.group)
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
    let backlog = tokio::time::timeout(PROBE_TIMEOUT, group_backlog(&state.redis, &state.ledger))
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
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        has("billie_events_applied_total{type=\"user_input\"} 2");
        has("billie_events_unknown_type_total{type=\"odd\\\"type\"} 1");
        has("billie_ingest_batch_seconds_bucket{le=\"0.01\"} 0");
        has("billie_ingest_batch_seconds_bucket{le=\"0.025\"} 1");
        has("billie_ingest_batch_seconds_count 1");
        has("billie_ingest_entry_age_seconds_bucket{le=\"0.1\"} 1");
        has("billie_ingest_entry_age_seconds_bucket{le=\"5\"} 2");
        has("billie_ingest_entry_age_seconds_count 2");
        has("billie_consumer_pending 3");
        has("billie_consumer_lag 7");
    }

    #[test]
    fn each_process_counts_on_its_own() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.count(Disposition::Applied, "user_input");
        assert!(!b.render(None).contains("user_input"));
    }
}
