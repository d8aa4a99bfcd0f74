//! Change stream latency (`GET /api/v1/changes`, issue 22): [`STREAMS`] Server-Sent
//! Events clients on one dashboard process that also consumes the ledger, while events
//! are appended at `BENCH_RATE` (1,000 a second). The load goes round-robin over
//! [`CONVERSATIONS`] conversations, so each one gets an event every two seconds and each
//! change a stream announces is the change of one event: its latency runs from just
//! before that event's XADD to the `change` event's arrival at each client.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use billie_dashboard::server::store::Store;

use crate::services::App;
use crate::stats::Samples;
use crate::{BenchError, Env};

/// Streams open at once.
pub const STREAMS: usize = 100;
/// Conversations the load goes round.
const CONVERSATIONS: usize = 2_000;
const WARM_UP: Duration = Duration::from_secs(5);

pub struct Figures {
    pub streams: usize,
    pub rate: usize,
    pub seconds: u64,
    pub latency: Samples,
    /// Changes expected in the window (events × streams) and seen.
    pub expected: usize,
    pub resyncs: usize,
}

/// When each conversation's last event was appended.
type Sent = Arc<RwLock<HashMap<String, Instant>>>;

pub async fn run(env: &Env) -> Result<Figures, BenchError> {
    let (rate, seconds) = (env.rate, env.seconds);
    let db = "bench_changes";
    let stream = format!("{db}:chatLedger");
    let mut redis = redis::aio::ConnectionManager::new_with_config(
        redis::Client::open(env.redis_url.as_str())?,
        redis::aio::ConnectionManagerConfig::new().set_response_timeout(None),
    )
    .await?;
    let _: () = redis::AsyncCommands::del(&mut redis, &stream).await?;
    env.drop_database(db).await?;
    let store = Store::connect(&env.database_uri(db)).await?;
    let (_, token) = store.create_token("bench".into(), "bench").await?;
    let app = App::start(env, db, &stream, true)?;

    let sent: Sent = Arc::default();
    let (stop_tx, stop) = watch::channel(false);
    let (window_tx, window) = watch::channel(None::<(Instant, Instant)>);
    let mut tasks = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let reader = open(app.addr, &token).await?;
        tasks.push(tokio::spawn(read_changes(
            reader,
            sent.clone(),
            stop.clone(),
            window.clone(),
        )));
    }
    eprintln!("changes: {STREAMS} streams open");

    let measured = Duration::from_secs(seconds);
    let started = Instant::now();
    let window_start = started + WARM_UP;
    let window_end = window_start + measured;
    let _ = window_tx.send(Some((window_start, window_end)));
    let mut appended = 0usize;
    let mut in_window = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    while Instant::now() < window_end {
        ticker.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
        if due <= appended {
            continue;
        }
        let mut pipe = redis::pipe();
        let now = Instant::now();
        {
            let mut sent = sent.write().map_err(|_| "poisoned")?;
            for n in appended..due {
                let (conv, fields) = entry(n);
                sent.insert(conv, now);
                if now >= window_start {
                    in_window += 1;
                }
                pipe.xadd(&stream, "*", &fields).ignore();
            }
        }
        pipe.query_async::<()>(&mut redis).await?;
        appended = due;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    let mut latency = Samples::default();
    let mut resyncs = 0;
    for task in tasks {
        let (samples, resynced) = task.await??;
        latency.extend(samples);
        resyncs += resynced;
    }
    drop(app);
    store.close().await;
    Ok(Figures {
        streams: STREAMS,
        rate,
        seconds,
        latency,
        expected: in_window * STREAMS,
        resyncs,
    })
}

/// The `n`th entry of the load: conversation `n % CONVERSATIONS`, its start first, then
/// its customer's messages.
fn entry(n: usize) -> (String, Vec<(&'static str, String)>) {
    let conv = format!("bench-sse-{:05}", n % CONVERSATIONS);
    let seq = n / CONVERSATIONS + 1;
    let fields = if seq == 1 {
        vec![
            ("conv", conv.clone()),
            ("typ", "conversation_started".to_owned()),
            ("agt", "broker".to_owned()),
            ("seq", "1".to_owned()),
            (
                "payload",
                format!(
                    r#"{{"application_number":"APP-{:05}-S"}}"#,
                    n % CONVERSATIONS
                ),
            ),
        ]
    } else {
        vec![
            ("conv", conv.clone()),
            ("typ", "user_input".to_owned()),
            ("agt", "broker".to_owned()),
            ("seq", seq.to_string()),
            ("payload", format!(r#"{{"utterance":"message {seq}"}}"#)),
        ]
    };
    (conv, fields)
}

type Reader = BufReader<TcpStream>;

/// Opens the change stream with `token` and reads up to its body.
async fn open(addr: std::net::SocketAddr, token: &str) -> Result<Reader, BenchError> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let request = format!(
        "GET /api/v1/changes HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    if !line.contains(" 200 ") {
        return Err(format!("the change stream answered {line:?}").into());
    }
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        if line.trim().is_empty() {
            return Ok(reader);
        }
    }
}

/// Reads `change` events until told to stop: the latency of each in the window. The body
/// is chunked; an event is one chunk, so its `data:` line is whole.
async fn read_changes(
    mut reader: Reader,
    sent: Sent,
    mut stop: watch::Receiver<bool>,
    window: watch::Receiver<Option<(Instant, Instant)>>,
) -> Result<(Samples, usize), BenchError> {
    let mut samples = Samples::default();
    let mut resyncs = 0;
    let mut line = String::new();
    loop {
        line.clear();
        tokio::select! {
            read = reader.read_line(&mut line) => {
                if read? == 0 {
                    return Err("the change stream ended".into());
                }
            }
            _ = stop.changed() => return Ok((samples, resyncs)),
        }
        let now = Instant::now();
        if line.starts_with("event: resync") {
            resyncs += 1;
            continue;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(change) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
            continue;
        };
        let Some(conv) = change["conversation_id"].as_str() else {
            continue;
        };
        let Some(at) = sent.read().map_err(|_| "poisoned")?.get(conv).copied() else {
            continue;
        };
        if let Some((from, to)) = *window.borrow()
            && at >= from
            && at < to
        {
            samples.push(now.duration_since(at));
        }
    }
}
