//! The performance benchmark (issue 6): ingest throughput against a naive consumer, event →
//! WebSocket latency with 500 signed-in clients, the list at 100,000 conversations, the
//! release WASM bundle and the server's memory, in one run on real components.
//!
//! `scripts/bench` is the way in: it installs and starts Redis and secantusd-rs on free
//! ports, builds the release app, runs this (`cargo bench --bench suite --features ssr`)
//! with the `BENCH_*` variables below, and this writes the figures into BENCHMARKS.md.
//! Timings live here and in that report, never in tests.

mod bundle;
mod changes;
mod cpu;
mod http;
mod ingest;
mod latency;
mod listing;
mod load;
mod report;
mod services;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Where the services are and what to measure, from `BENCH_*` variables.
pub struct Env {
    pub redis_url: String,
    /// `host:port` of the MongoDB-wire server.
    pub mongo: String,
    pub app_bin: PathBuf,
    pub site_root: PathBuf,
    pub wasm: PathBuf,
    pub work: PathBuf,
    pub report: PathBuf,
    pub machine: String,
    pub conversations: usize,
    pub clients: usize,
    pub rate: usize,
    pub seconds: u64,
    pub list_size: usize,
    /// With `BENCH_ONLY=latency`: the clients decode each frame in full, into the
    /// browser's types, rather than only what the measure reads (`BENCH_DECODE=full`).
    /// A full run measures both.
    pub full_decode: bool,
}

impl Env {
    fn from_env() -> Result<Self, BenchError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set (run scripts/bench)"))
        };
        let number = |name: &str, default: usize| -> Result<usize, BenchError> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map_err(|_| format!("{name}={v} is not a number").into()),
                Err(_) => Ok(default),
            }
        };
        Ok(Self {
            redis_url: var("BENCH_REDIS_URL")?,
            mongo: var("BENCH_MONGO")?,
            app_bin: var("BENCH_APP_BIN")?.into(),
            site_root: var("BENCH_SITE_ROOT")?.into(),
            wasm: var("BENCH_WASM")?.into(),
            work: var("BENCH_WORK")?.into(),
            report: var("BENCH_REPORT")?.into(),
            machine: var("BENCH_MACHINE")?,
            conversations: number("BENCH_CONVERSATIONS", 2_000)?,
            clients: number("BENCH_CLIENTS", 500)?,
            rate: number("BENCH_RATE", 1_000)?,
            seconds: number("BENCH_SECONDS", 30)? as u64,
            list_size: number("BENCH_LIST_SIZE", 100_000)?,
            full_decode: std::env::var("BENCH_DECODE").is_ok_and(|v| v == "full"),
        })
    }

    pub fn database_uri(&self, db: &str) -> String {
        format!(
            "mongodb://{}/{db}?directConnection=true&retryWrites=false&maxIdleTimeMS=60000",
            self.mongo
        )
    }

    pub async fn database(&self, db: &str) -> Result<mongodb::Database, BenchError> {
        let client = mongodb::Client::with_uri_str(self.database_uri(db)).await?;
        Ok(client.database(db))
    }

    pub async fn drop_database(&self, db: &str) -> Result<(), BenchError> {
        Ok(self.database(db).await?.drop().await?)
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BenchError> {
    let env = Env::from_env()?;
    // `BENCH_ONLY=ingest`, `list` (after ingest, which seeds it), `latency` or `bundle`: a quick
    // look at one measure while working on it, printed, with no report.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "latency" {
        let mut live = latency::run(&env, env.full_decode).await?;
        eprintln!(
            "latency p50 {} ms, p99 {} ms; RSS {} MB connected, {} MB peak",
            live.latency.percentile(50.0).as_millis(),
            live.latency.percentile(99.0).as_millis(),
            live.rss_connected / 1_000_000,
            live.rss_peak / 1_000_000,
        );
        eprintln!("CPU in the window: {:?}", live.cpu);
        return Ok(());
    }
    if only == "changes" {
        let mut changes = changes::run(&env).await?;
        eprintln!(
            "changes: {} streams, {} events/s: p50 {} ms, p99 {} ms; {} of {} changes seen, {} resyncs",
            changes.streams,
            changes.rate,
            changes.latency.percentile(50.0).as_millis(),
            changes.latency.percentile(99.0).as_millis(),
            changes.latency.len(),
            changes.expected,
            changes.resyncs,
        );
        return Ok(());
    }
    let bundle = bundle::measure(&env.wasm)?;
    if only == "bundle" {
        let kb = |s: bundle::Size| format!("{} / {} KB", s.raw / 1000, s.gzip / 1000);
        eprintln!("WASM raw / gzip: main {}", kb(bundle.main));
        for page in &bundle.pages {
            eprintln!(
                "  {}: first load {}, from the list {}",
                page.name,
                kb(page.first),
                kb(page.extra)
            );
        }
        eprintln!("  every module {}", kb(bundle.all));
        return Ok(());
    }
    let ingest = ingest::run(&env, env.conversations).await?;
    if only == "ingest" {
        return Ok(());
    }
    if only == "list" {
        for mut scenario in listing::run(&env, env.list_size).await?.scenarios {
            eprintln!(
                "{}: p50 {:.1} ms, p95 {:.1} ms",
                scenario.name,
                scenario.samples.percentile(50.0).as_secs_f64() * 1000.0,
                scenario.samples.percentile(95.0).as_secs_f64() * 1000.0,
            );
        }
        return Ok(());
    }
    // A later measure failing still leaves the earlier ones in the report.
    let list = listing::run(&env, env.list_size)
        .await
        .map_err(|e| e.to_string());
    let changes = changes::run(&env).await.map_err(|e| e.to_string());
    let live = latency::run(&env, false).await.map_err(|e| e.to_string());
    let decoding = latency::run(&env, true).await.map_err(|e| e.to_string());
    let text = report::render(&env, ingest, [live, decoding], changes, list, bundle);
    println!("{text}");
    report::write(&env.report, &text)?;
    eprintln!("figures written to {}", env.report.display());
    Ok(())
}
