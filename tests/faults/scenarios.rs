//! The faults, one function each, and what every one of them must leave behind
//! ([`Stage::finish`]). The waits inside a fault (a second between kills, the length of an
//! outage) are the fault's own schedule; every wait for the system is on a condition.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use tokio::process::Child;

use crate::cluster::{App, Role, Target, signal};
use crate::{Error, Scale, Suite, check, clients::Clients};

/// One fault's figures.
pub struct Outcome {
    pub name: &'static str,
    pub what: String,
    pub entries: usize,
    pub compared: usize,
    pub dead_lettered: usize,
    pub pending: usize,
    /// From the end of the fault until everything appended by then was processed (and,
    /// where clients are involved, every client was back in step).
    pub recovered: Option<Duration>,
    pub failure: Option<String>,
}

/// One fault's own stream, database, processes and clients.
struct Stage {
    target: Target,
    redis: ConnectionManager,
    mongo_uri: String,
    replay_uri: String,
    group: &'static str,
    simulator: Option<Child>,
    rate: u32,
    apps: Vec<App>,
    /// Whether entries that break the contract are appended on purpose, so that some
    /// are dead-lettered.
    breaks_contract: bool,
    /// Whether the projections are compared with an in-order replay (a soak's stream is
    /// too long to replay in passing; the faults compare theirs).
    replays: bool,
}

impl Stage {
    async fn new(suite: &Suite, name: &str) -> Result<Self, Error> {
        let logs = suite.work.join(name);
        std::fs::create_dir_all(&logs)?;
        let target = Target {
            app_bin: suite.app_bin.clone(),
            site_root: suite.site_root.clone(),
            logs,
            redis_url: suite.redis.url(),
            database_uri: suite.mongo.uri(name),
            stream: format!("{name}:chatLedger"),
        };
        let client = redis::Client::open(suite.redis.url())?;
        Ok(Self {
            redis: ConnectionManager::new(client).await?,
            mongo_uri: target.database_uri.clone(),
            replay_uri: suite.mongo.uri(&format!("{name}_in_order")),
            target,
            group: "supervisor-dashboard",
            simulator: None,
            rate: suite.scale.rate,
            apps: Vec::new(),
            breaks_contract: false,
            replays: true,
        })
    }

    /// Starts what most faults start from: a web process named `<stage>-web` with
    /// `clients` connected to it, an ingest process `<stage>-ingest` (its index in
    /// `apps` is returned), and the steady load.
    async fn web_ingest_and_load(
        &mut self,
        name: &str,
        clients: usize,
    ) -> Result<(usize, Clients), Error> {
        self.start(Role::Web, &format!("{name}-web")).await?;
        let ingest = self.start(Role::Ingest, &format!("{name}-ingest")).await?;
        let clients = Clients::connect(&self.web_addrs(), clients).await?;
        self.load()?;
        Ok((ingest, clients))
    }

    async fn start(&mut self, role: Role, name: &str) -> Result<usize, Error> {
        self.apps.push(self.target.start(role, name).await?);
        Ok(self.apps.len() - 1)
    }

    fn web_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.apps
            .iter()
            .filter(|a| a.role != Role::Ingest)
            .map(|a| a.addr)
            .collect()
    }

    /// Starts the steady load, or starts it again if it stopped (it exits when Redis
    /// goes away, as a producer without retries would).
    fn load(&mut self) -> Result<(), Error> {
        let running = self
            .simulator
            .as_mut()
            .is_some_and(|s| matches!(s.try_wait(), Ok(None)));
        if !running {
            self.simulator = Some(self.target.simulate(self.rate, None)?);
        }
        Ok(())
    }

    /// Waits until everything appended so far is processed; how long that took.
    async fn caught_up(&mut self) -> Result<Duration, Error> {
        let mark = check::last_id(&mut self.redis, &self.target.stream).await;
        // The connection's first command after a Redis restart fails; it reconnects.
        let mark = match mark {
            Ok(mark) => mark,
            Err(_) => check::last_id(&mut self.redis, &self.target.stream).await?,
        };
        check::wait_caught_up(
            &mut self.redis,
            &self.target.stream,
            self.group,
            &mark,
            Duration::from_secs(300),
        )
        .await
    }

    /// Stops the load, waits until the group has processed everything, and checks what
    /// every fault must leave behind.
    async fn finish(
        mut self,
        name: &'static str,
        what: String,
        recovered: Option<Duration>,
    ) -> Outcome {
        if let Some(mut simulator) = self.simulator.take() {
            let _ = simulator.kill().await;
        }
        let mut outcome = Outcome {
            name,
            what,
            entries: 0,
            compared: 0,
            dead_lettered: 0,
            pending: 0,
            recovered,
            failure: None,
        };
        if let Err(e) = self.verify(&mut outcome).await {
            outcome.failure = Some(e.to_string());
        }
        for app in self.apps.drain(..) {
            let _ = app.kill().await;
        }
        outcome
    }

    async fn verify(&mut self, outcome: &mut Outcome) -> Result<(), Error> {
        self.caught_up().await?;
        let stream = self.target.stream.clone();
        outcome.entries = check::entries(&mut self.redis, &stream).await?;
        outcome.pending = check::pending(&mut self.redis, &stream, self.group).await?;
        outcome.dead_lettered = check::entries(&mut self.redis, &format!("{stream}:dead")).await?;
        let mut wrong = Vec::new();
        if self.replays {
            self.target.replay_into(&self.replay_uri).await?;
            let (compared, difference) = check::compare(&self.mongo_uri, &self.replay_uri).await?;
            outcome.compared = compared;
            if let Some(difference) = difference {
                wrong.push(format!(
                    "projections differ from an in-order run: {difference}"
                ));
            }
            if compared == 0 {
                wrong.push("no documents to compare".into());
            }
        }
        if outcome.dead_lettered > 0 && !self.breaks_contract {
            wrong.push(format!("{} entries dead-lettered", outcome.dead_lettered));
        }
        if outcome.pending > 0 {
            wrong.push(format!("{} entries pending", outcome.pending));
        }
        for entry in std::fs::read_dir(&self.target.logs)? {
            let path = entry?.path();
            if std::fs::read_to_string(&path)?.contains("panicked") {
                wrong.push(format!("a process panicked: see {}", path.display()));
            }
        }
        if !wrong.is_empty() {
            return Err(wrong.join("; ").into());
        }
        Ok(())
    }
}

/// Runs every fault in turn; one that cannot even be set up is a failure of its own.
pub async fn run_all(suite: &mut Suite) -> Vec<Outcome> {
    if let Some(secs) = suite.scale.soak_secs {
        return vec![soak(suite, secs).await];
    }
    // `FAULTS_ONLY=<name>` runs one fault (its name as the table shows it), for debugging.
    let only = std::env::var("FAULTS_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let mut outcomes = Vec::new();
    if wanted("crash loop") {
        outcomes.push(crash_loop(suite).await);
    }
    if wanted("kill -9 ingest") {
        outcomes.push(kill_ingest(suite).await);
    }
    if wanted("Redis restart") {
        outcomes.push(redis_restart(suite).await);
    }
    if wanted("store outage") {
        outcomes.push(store_outage(suite).await);
    }
    if wanted("kill -9 web") {
        outcomes.push(kill_web(suite).await);
    }
    if wanted("slow store") {
        outcomes.push(slow_store(suite).await);
    }
    if wanted("fuzzed entries") {
        outcomes.push(fuzzed_entries(suite).await);
    }
    outcomes
}

/// Turns a fault that could not run into a failed outcome.
fn failed(name: &'static str, e: Error) -> Outcome {
    Outcome {
        name,
        what: String::new(),
        entries: 0,
        compared: 0,
        dead_lettered: 0,
        pending: 0,
        recovered: None,
        failure: Some(e.to_string()),
    }
}

macro_rules! outcome {
    ($name:literal, $body:expr) => {
        match $body {
            Ok(outcome) => outcome,
            Err(e) => failed($name, e),
        }
    };
}

/// A crash-looping ingest process: a backlog, and the process killed every second.
async fn crash_loop(suite: &Suite) -> Outcome {
    outcome!(
        "crash loop",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "crash-loop").await?;
            let mut backlog = stage.target.simulate(20_000, Some(s.backlog))?;
            if !backlog.wait().await?.success() {
                return Err("the simulator could not append the backlog".into());
            }
            stage.start(Role::Web, "crash-loop-web").await?;
            let clients = Clients::connect(&stage.web_addrs(), 10).await?;
            for _ in 0..s.crash_kills {
                let app = stage
                    .target
                    .start(Role::Ingest, "crash-loop-ingest")
                    .await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                app.kill().await?;
            }
            let ended = Instant::now();
            stage.start(Role::Ingest, "crash-loop-ingest").await?;
            stage.caught_up().await?;
            let recovered = ended.elapsed();
            clients.stop().await;
            let what = format!(
                "{} kills, one a second, of the only ingest process during a backlog of {}",
                s.crash_kills, s.backlog
            );
            Ok::<_, Error>(stage.finish("crash loop", what, Some(recovered)).await)
        }
        .await
    )
}

/// `kill -9` of one of two ingest processes, mid-batch, under load.
async fn kill_ingest(suite: &Suite) -> Outcome {
    outcome!(
        "kill -9 ingest",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "kill-ingest").await?;
            stage.start(Role::Web, "kill-ingest-web").await?;
            stage.start(Role::Ingest, "kill-ingest-1").await?;
            stage.start(Role::Ingest, "kill-ingest-2").await?;
            let clients = Clients::connect(&stage.web_addrs(), s.clients).await?;
            // A backlog for the kills to land in the middle of, then the steady load.
            let mut backlog = stage.target.simulate(20_000, Some(2_000))?;
            backlog.wait().await?;
            stage.load()?;
            for kill in 0..s.ingest_kills {
                let at = 1 + kill % 2;
                let name = format!("kill-ingest-{at}");
                let place = stage
                    .apps
                    .iter()
                    .position(|a| a.name == name)
                    .ok_or("no such process")?;
                stage.apps.remove(place).kill().await?;
                stage.start(Role::Ingest, &name).await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let ended = Instant::now();
            stage.caught_up().await?;
            let recovered = ended.elapsed();
            clients.told_since(ended).await?;
            clients.stop().await;
            let what = format!(
                "{} kills of one of two ingest processes, at {} events/s",
                s.ingest_kills, s.rate
            );
            Ok::<_, Error>(stage.finish("kill -9 ingest", what, Some(recovered)).await)
        }
        .await
    )
}

/// Redis restarted (AOF on) during ingest, with clients connected.
async fn redis_restart(suite: &mut Suite) -> Outcome {
    let s = suite.scale;
    let mut stage = match Stage::new(suite, "redis-restart").await {
        Ok(stage) => stage,
        Err(e) => return failed("Redis restart", e),
    };
    let result: Result<Duration, Error> = async {
        let (_, clients) = stage
            .web_ingest_and_load("redis-restart", s.clients)
            .await?;
        // The fault's schedule: a while under load first.
        tokio::time::sleep(Duration::from_secs(5)).await;
        stage.caught_up().await?;
        let stopped = Instant::now();
        suite.redis.restart().await?;
        // The simulator, a producer without retries, exits when Redis goes away.
        if let Some(mut simulator) = stage.simulator.take() {
            simulator.kill().await?;
        }
        stage.load()?;
        clients.resynced(stopped, None).await?;
        stage.caught_up().await?;
        clients.stop().await;
        Ok(stopped.elapsed())
    }
    .await;
    let what = format!("Redis stopped and started again under {} events/s", s.rate);
    match result {
        Ok(recovered) => stage.finish("Redis restart", what, Some(recovered)).await,
        Err(e) => {
            let mut outcome = stage.finish("Redis restart", what, None).await;
            outcome.failure.get_or_insert(e.to_string());
            outcome
        }
    }
}

/// The store frozen (SIGSTOP) for a while during ingest.
async fn store_outage(suite: &Suite) -> Outcome {
    outcome!(
        "store outage",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "store-outage").await?;
            let (ingest, clients) = stage.web_ingest_and_load("store-outage", s.clients).await?;
            stage.caught_up().await?;
            let frozen = Instant::now();
            signal(suite.mongo.pid(), "STOP")?;
            let said = readiness_while_down(&stage.apps[ingest], frozen, s.outage_secs).await;
            signal(suite.mongo.pid(), "CONT")?;
            let back = Instant::now();
            let said = said?;
            stage.caught_up().await?;
            let recovered = back.elapsed();
            clients.stop().await;
            let what = format!(
                "the store frozen {} s under {} events/s; ingest's /readyz said \"{said}\"",
                s.outage_secs, s.rate
            );
            Ok::<_, Error>(stage.finish("store outage", what, Some(recovered)).await)
        }
        .await
    )
}

/// Polls the ingest process's `/readyz` until it names the store as down, then waits out
/// the rest of the outage; what it said.
async fn readiness_while_down(
    ingest: &App,
    since: Instant,
    outage_secs: u64,
) -> Result<String, Error> {
    let end = since + Duration::from_secs(outage_secs);
    let mut said = None;
    while Instant::now() < end {
        if said.is_none() {
            let (status, body) = ingest.get("/readyz").await?;
            if status == 503 && body.contains("store unreachable") {
                said = Some(body);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    said.ok_or_else(|| "/readyz never said the store was down".into())
}

/// One of two web processes killed with clients on it: they reconnect to the other.
async fn kill_web(suite: &Suite) -> Outcome {
    outcome!(
        "kill -9 web",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "kill-web").await?;
            stage.start(Role::Web, "kill-web-a").await?;
            stage.start(Role::Web, "kill-web-b").await?;
            stage.start(Role::Ingest, "kill-web-ingest").await?;
            let clients = Clients::connect(&stage.web_addrs(), s.clients).await?;
            stage.load()?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            stage.caught_up().await?;
            let other = stage.apps[1].addr;
            stage.apps.remove(0).kill().await?;
            let killed = Instant::now();
            let recovered = clients.resynced(killed, Some(other)).await?;
            let frames = clients.frames();
            let count = clients.len();
            clients.stop().await;
            let what = format!(
                "one of two web processes killed with {count} clients on it ({frames} frames seen)"
            );
            Ok::<_, Error>(stage.finish("kill -9 web", what, Some(recovered)).await)
        }
        .await
    )
}

/// The store frozen in 200 ms pulses.
async fn slow_store(suite: &Suite) -> Outcome {
    outcome!(
        "slow store",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "slow-store").await?;
            let (_, clients) = stage.web_ingest_and_load("slow-store", s.clients).await?;
            let end = Instant::now() + Duration::from_secs(s.pulse_secs);
            while Instant::now() < end {
                signal(suite.mongo.pid(), "STOP")?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                signal(suite.mongo.pid(), "CONT")?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let ended = Instant::now();
            stage.caught_up().await?;
            let recovered = ended.elapsed();
            clients.told_since(ended).await?;
            clients.stop().await;
            let what = format!(
                "the store frozen 200 ms of every 400 ms for {} s under {} events/s",
                s.pulse_secs, s.rate
            );
            Ok::<_, Error>(stage.finish("slow store", what, Some(recovered)).await)
        }
        .await
    )
}

/// The figures as a Markdown table.
pub fn table(scale: &Scale, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fault-injection run ({}):\n",
        if scale.full { "full" } else { "short" }
    );
    let _ = writeln!(
        out,
        "| Fault | What was done | Entries | Documents equal to an in-order run | Dead-lettered | Pending | Time to recover | Result |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let recovered = o
            .recovered
            .map_or("—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        let result = match &o.failure {
            None => "passed".to_owned(),
            Some(why) => format!("**failed**: {why}"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            o.name, o.what, o.entries, o.compared, o.dead_lettered, o.pending, recovered, result
        );
    }
    out
}

/// Fuzzed entries through the running ingest, under load: each one is applied, ignored
/// as unknown, or dead-lettered, and the stream never stalls.
async fn fuzzed_entries(suite: &Suite) -> Outcome {
    outcome!("fuzzed entries", async {
        let mut stage = Stage::new(suite, "fuzzed").await?;
        stage.breaks_contract = true;
        let (ingest, clients) = stage.web_ingest_and_load("fuzzed", 10).await?;
        let fuzzed = crate::fuzzed::entries(1_000);
        let mut pipe = redis::pipe();
        for fields in &fuzzed {
            pipe.xadd(&stage.target.stream, "*", fields).ignore();
        }
        let appended = Instant::now();
        let () = pipe.query_async(&mut stage.redis).await?;
        if let Some(mut simulator) = stage.simulator.take() {
            simulator.kill().await?;
        }
        stage.caught_up().await?;
        let recovered = appended.elapsed();
        clients.stop().await;
        let (_, metrics) = stage.apps[ingest].get("/metrics").await?;
        let counted = counters(&metrics, "billie_events_");
        let dead = counters(&metrics, "billie_events_dead_lettered_total");
        let stream = stage.target.stream.clone();
        let entries = check::entries(&mut stage.redis, &stream).await?;
        let letters = check::entries(&mut stage.redis, &format!("{stream}:dead")).await?;
        if counted != entries as u64 || dead != letters as u64 {
            return Err(format!(
                "{entries} entries, but ingest accounted for {counted} ({dead} dead-lettered, \
                 {letters} in the dead-letter stream)"
            )
            .into());
        }
        let what = format!(
            "1,000 fuzzed entries among the load: all {entries} accounted for, {letters} refused \
             into the dead-letter stream with their reasons"
        );
        Ok::<_, Error>(stage.finish("fuzzed entries", what, Some(recovered)).await)
    }
    .await)
}

/// The sum of the counters of `/metrics` whose names start with `prefix`.
fn counters(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix) && line.contains("_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A long steady run: memory, backlog and deliveries over time.
async fn soak(suite: &Suite, secs: u64) -> Outcome {
    outcome!(
        "soak",
        async {
            let s = suite.scale;
            let mut stage = Stage::new(suite, "soak").await?;
            stage.replays = false;
            let app = stage.start(Role::Both, "soak-app").await?;
            let clients = Clients::connect(&stage.web_addrs(), s.clients).await?;
            stage.load()?;
            let started = Instant::now();
            let end = started + Duration::from_secs(secs);
            let stream = stage.target.stream.clone();
            let mut memory = Vec::new();
            let mut most_behind = 0;
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let at = started.elapsed().as_secs_f64();
                let rss = stage.apps[app].rss()? as f64 / 1e6;
                let (pending, lag) = check::backlog(&mut stage.redis, &stream, stage.group).await?;
                most_behind = most_behind.max(pending + lag);
                memory.push((at, rss));
                println!(
                    "soak: {at:>6.0} s  rss {rss:>6.1} MB  pending {pending:>4}  unread {lag:>4}"
                );
            }
            if let Some(mut simulator) = stage.simulator.take() {
                simulator.kill().await?;
            }
            stage.caught_up().await?;
            let want = check::versions(&stage.mongo_uri).await?;
            let (behind, resyncs) = clients.told_of(&want).await;
            let frames = clients.frames();
            clients.stop().await;
            // The first minute is warm-up: caches, pools and buffers reach their size.
            let steady: Vec<(f64, f64)> =
                memory.iter().copied().filter(|(t, _)| *t >= 60.0).collect();
            let slope = check::slope_per_hour(&steady);
            let (first, last) = (
                steady.first().map_or(0.0, |m| m.1),
                steady.last().map_or(0.0, |m| m.1),
            );
            let what = format!(
                "{secs} s at {} events/s with {} clients: RSS {first:.1} → {last:.1} MB after the \
             first minute, slope {slope:+.2} MB/hour; backlog at most {most_behind} entries; \
             {frames} frames, every client told of every conversation's final version ({} \
             conversations) but {behind}; {resyncs} resyncs",
                s.rate,
                s.clients,
                want.len()
            );
            if behind > 0 {
                return Err(format!("{behind} clients missed changes: {what}").into());
            }
            Ok::<_, Error>(stage.finish("soak", what, None).await)
        }
        .await
    )
}
