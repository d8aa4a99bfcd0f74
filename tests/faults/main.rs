//! The fault-injection suite (issue 18): the release binary, a real Redis with AOF and
//! the MongoDB-wire server, under a steady load from the simulator with WebSocket clients
//! attached, through the faults an operator meets — crash loops, `kill -9` of an ingest
//! or a web process, a Redis restart, a store that stops answering or answers slowly.
//!
//! After each fault: every entry up to the end is processed (0 pending), none is
//! dead-lettered, and the projections equal, document for document, those an in-order
//! replay of the same stream builds in a fresh database. The time to recover is measured,
//! never asserted (see RELIABILITY.md for a full run's figures).
//!
//! `scripts/test` runs the short cases (`cargo test --test faults`, after the release
//! build); `scripts/faults` runs the full ones (`FAULTS_FULL=1`) and writes the figures
//! to `FAULTS_REPORT`. It needs `FAULTS_APP_BIN` (the release binary) and
//! `FAULTS_SITE_ROOT`; `redis-server` on the PATH; and SecantusDB's server
//! (`FAULTS_MONGOD`, else `.venv/bin/secantusd-py`).

#[path = "../../benches/suite/http.rs"]
#[allow(
    dead_code,
    reason = "the benchmark's client; the suite signs in and reads"
)]
mod http;

mod check;
mod clients;
mod cluster;
mod fuzzed;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The name `http` (shared with the benchmark) knows the error by.
pub type BenchError = Error;

/// How hard each fault is pushed: the short cases of `scripts/test`, or a full run.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub full: bool,
    /// Entries appended before the crash loop starts, and the kills in it.
    pub backlog: u64,
    pub crash_kills: usize,
    /// `kill -9`s of one of two ingest processes under load.
    pub ingest_kills: usize,
    /// Events a second from the simulator during each fault.
    pub rate: u32,
    pub clients: usize,
    /// How long the store stays frozen, and how long it is frozen in pulses.
    pub outage_secs: u64,
    pub pulse_secs: u64,
    /// With `FAULTS_SOAK_SECS`: only the soak, this long.
    pub soak_secs: Option<u64>,
}

impl Scale {
    fn from_env() -> Self {
        let soak_secs = std::env::var("FAULTS_SOAK_SECS")
            .ok()
            .and_then(|v| v.parse().ok());
        if soak_secs.is_some() {
            return Self {
                soak_secs,
                rate: 200,
                clients: 100,
                ..Self::short()
            };
        }
        if std::env::var("FAULTS_FULL").is_ok_and(|v| v == "1") {
            Self {
                full: true,
                backlog: 10_000,
                crash_kills: 20,
                ingest_kills: 10,
                rate: 200,
                clients: 100,
                outage_secs: 60,
                pulse_secs: 60,
                soak_secs: None,
            }
        } else {
            Self::short()
        }
    }

    fn short() -> Self {
        Self {
            full: false,
            backlog: 2_000,
            crash_kills: 6,
            ingest_kills: 3,
            rate: 100,
            clients: 20,
            outage_secs: 8,
            pulse_secs: 6,
            soak_secs: None,
        }
    }
}

/// What the whole suite shares: the binary, the services and a folder for logs.
pub struct Suite {
    pub app_bin: PathBuf,
    pub site_root: PathBuf,
    pub work: PathBuf,
    pub redis: cluster::Redis,
    pub mongo: cluster::Mongo,
    pub scale: Scale,
}

fn var(name: &str) -> Result<PathBuf, Error> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{name} is not set (run scripts/faults or scripts/test)").into())
}

async fn setup() -> Result<Suite, Error> {
    let work = std::env::temp_dir().join(format!("billie-faults-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let redis = cluster::Redis::start(&work.join("redis")).await?;
    let mongo = cluster::Mongo::start(&work.join("mongo.log")).await?;
    Ok(Suite {
        app_bin: var("FAULTS_APP_BIN")?,
        site_root: var("FAULTS_SITE_ROOT")?,
        work,
        redis,
        mongo,
        scale: Scale::from_env(),
    })
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("faults: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut suite = match setup().await {
            Ok(suite) => suite,
            Err(e) => {
                eprintln!("faults: cannot set up: {e}");
                return ExitCode::FAILURE;
            }
        };
        let results = scenarios::run_all(&mut suite).await;
        let failed = results.iter().filter(|r| r.failure.is_some()).count();
        let table = scenarios::table(&suite.scale, &results);
        println!("{table}");
        if let Some(path) = std::env::var_os("FAULTS_REPORT")
            && let Err(e) = std::fs::write(&path, &table)
        {
            let path = PathBuf::from(path);
            eprintln!("faults: cannot write {}: {e}", path.display());
        }
        if failed == 0 {
            let _ = std::fs::remove_dir_all(&suite.work);
        } else {
            eprintln!("faults: logs kept in {}", suite.work.display());
        }
        println!("faults: {} passed, {failed} failed", results.len() - failed);
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
