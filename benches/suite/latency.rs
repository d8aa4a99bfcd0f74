//! Event → WebSocket frame latency as supervisors feel it: 500 browsers-worth of signed-in
//! WebSocket clients (each with its own session, made by the login form) watch the live
//! feed of one dashboard process that also consumes the ledger, while the load is appended
//! at a fixed rate. A message event counts as delivered to a client when a frame shows its
//! conversation's `message_count` reaching it; latency runs from just before its XADD to
//! that frame's arrival. The server's resident memory is sampled meanwhile, and the CPU
//! time each party used in the measured window is read (see [`crate::cpu`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use billie_dashboard::api::{Change, FeedFrame};
use futures::StreamExt;
use redis::AsyncCommands;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::cpu::Usage;
use crate::http::Client;
use crate::load::Load;
use crate::services::{App, EMAIL, PASSWORD};
use crate::stats::Samples;
use crate::{BenchError, Env};

pub struct Figures {
    pub clients: usize,
    pub rate: usize,
    pub seconds: u64,
    pub events: usize,
    pub latency: Samples,
    /// Message deliveries expected (messages in the window × clients) and seen.
    pub expected: usize,
    pub resyncs: usize,
    pub frames: usize,
    pub rss_connected: u64,
    pub rss_peak: u64,
    /// CPU time used during the measured window, by party.
    pub cpu: Usage,
    pub full_decode: bool,
}

/// When each message of each conversation was appended, by position in its transcript.
type Sent = Arc<RwLock<HashMap<String, Vec<Instant>>>>;

const WARM_UP: Duration = Duration::from_secs(5);

pub async fn run(env: &Env, full_decode: bool) -> Result<Figures, BenchError> {
    let (clients, rate, seconds) = (env.clients, env.rate, env.seconds);
    let db = "bench_live";
    let stream = format!("{db}:chatLedger");
    // No response timeout: on a loaded machine a reply may take longer than the default.
    let mut redis = redis::aio::ConnectionManager::new_with_config(
        redis::Client::open(env.redis_url.as_str())?,
        redis::aio::ConnectionManagerConfig::new().set_response_timeout(None),
    )
    .await?;
    let _: () = redis.del(&stream).await?;
    env.drop_database(db).await?;
    let app = App::start(env, db, &stream, true)?;

    eprintln!("latency: signing in {clients} sessions");
    let mut cookies = Vec::with_capacity(clients);
    let mut sign_ins = futures::stream::iter(0..clients)
        .map(|_| async {
            let mut client = Client::new(app.addr);
            client.sign_in(EMAIL, PASSWORD).await?;
            client
                .cookie()
                .map(str::to_owned)
                .ok_or_else(|| BenchError::from("no cookie"))
        })
        .buffer_unordered(4);
    while let Some(cookie) = sign_ins.next().await {
        cookies.push(cookie?);
    }

    let sent: Sent = Arc::default();
    let (stop_tx, stop) = watch::channel(false);
    let (window_tx, window) = watch::channel(None::<(Instant, Instant)>);
    let mut tasks = Vec::with_capacity(clients);
    for cookie in cookies {
        let socket = connect(app.addr, &cookie).await?;
        tasks.push(tokio::spawn(watch_feed(
            socket,
            sent.clone(),
            stop.clone(),
            window.clone(),
            full_decode,
        )));
    }
    eprintln!("  {clients} WebSocket clients connected");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = app.rss()?;

    // Memory is sampled while the load runs.
    let mut rss_peak = rss_connected;

    let measured = Duration::from_secs(seconds);
    let mut load = Load::new(2, 200, usize::MAX);
    let started = Instant::now();
    let window_start = started + WARM_UP;
    let window_end = window_start + measured;
    let _ = window_tx.send(Some((window_start, window_end)));
    let mut appended = 0usize;
    let mut in_window = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut next_sample = Instant::now();
    let mut cpu_at_start = None;
    while Instant::now() < window_end {
        ticker.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
        if due <= appended {
            continue;
        }
        let mut pipe = redis::pipe();
        let now = Instant::now();
        if cpu_at_start.is_none() && now >= window_start {
            cpu_at_start = Some(Usage::now(app.pid())?);
        }
        {
            let mut sent = sent.write().map_err(|_| "poisoned")?;
            for entry in load.by_ref().take(due - appended) {
                if entry.is_message() {
                    sent.entry(entry.conv.clone()).or_default().push(now);
                    if now >= window_start {
                        in_window += 1;
                    }
                }
                pipe.xadd(&stream, "*", &entry.fields).ignore();
            }
        }
        pipe.query_async::<()>(&mut redis).await?;
        appended = due;
        if now >= next_sample {
            rss_peak = rss_peak.max(app.rss()?);
            next_sample = now + Duration::from_millis(250);
        }
    }
    let cpu = cpu_at_start
        .unwrap_or_default()
        .until(Usage::now(app.pid())?);
    // Stragglers: whatever has not arrived two seconds later counts as not delivered.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    let mut latency = Samples::default();
    let (mut frames, mut resyncs) = (0, 0);
    for task in tasks {
        let seen = task.await??;
        latency.extend(seen.latency);
        frames += seen.frames;
        resyncs += seen.resyncs;
    }
    Ok(Figures {
        clients,
        rate,
        seconds,
        events: appended,
        latency,
        expected: in_window * clients,
        resyncs,
        frames,
        rss_connected,
        rss_peak,
        cpu,
        full_decode,
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the live feed as a signed-in browser does and waits for its `hello`.
async fn connect(addr: std::net::SocketAddr, cookie: &str) -> Result<Socket, BenchError> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie)?);
    headers.insert("origin", HeaderValue::from_str(&format!("http://{addr}"))?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("hello") => Ok(socket),
        other => Err(format!("expected the feed's hello, got {other:?}").into()),
    }
}

struct Seen {
    latency: Samples,
    frames: usize,
    resyncs: usize,
}

/// What a client reads of a frame: the type, and each changed conversation's id and
/// message count, borrowed from the text. The rest is skipped, not decoded.
#[derive(Deserialize)]
struct Glance<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    changes: Vec<GlancedChange<'a>>,
}

#[derive(Deserialize)]
struct GlancedChange<'a> {
    #[serde(borrow)]
    conversation: GlancedSummary<'a>,
}

#[derive(Deserialize)]
struct GlancedSummary<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    message_count: i64,
}

/// A frame as the measure reads it: (conversation id, message count) per change, or
/// `None` for a resync. With `full`, the frame is first decoded whole into the browser's
/// types, as the browser does (and at the browser's cost, on this machine's cores).
fn read_frame(text: &str, full: bool) -> Result<Option<Vec<(String, usize)>>, BenchError> {
    let count = |n: i64| n.max(0) as usize;
    if full {
        return Ok(match serde_json::from_str::<FeedFrame>(text)? {
            FeedFrame::Changes { changes } => Some(
                changes
                    .into_iter()
                    .map(|Change { conversation, .. }| {
                        (conversation.id, count(conversation.message_count))
                    })
                    .collect(),
            ),
            FeedFrame::Resync => None,
            FeedFrame::Hello | FeedFrame::Arrivals { .. } => Some(Vec::new()),
        });
    }
    let glance: Glance = serde_json::from_str(text)?;
    Ok(match glance.kind.as_ref() {
        "resync" => None,
        _ => Some(
            glance
                .changes
                .into_iter()
                .map(|c| {
                    (
                        c.conversation.id.into_owned(),
                        count(c.conversation.message_count),
                    )
                })
                .collect(),
        ),
    })
}

/// One client: reads frames until told to stop, timing each message it learns of.
async fn watch_feed(
    mut socket: Socket,
    sent: Sent,
    mut stop: watch::Receiver<bool>,
    window: watch::Receiver<Option<(Instant, Instant)>>,
    full_decode: bool,
) -> Result<Seen, BenchError> {
    let mut seen = Seen {
        latency: Samples::default(),
        frames: 0,
        resyncs: 0,
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = stop.wait_for(|s| *s) => break,
        };
        let arrived = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("the server closed the feed".into()),
        };
        seen.frames += 1;
        let Some(changes) = read_frame(&text, full_decode)? else {
            seen.resyncs += 1;
            continue;
        };
        let Some((from, to)) = *window.borrow() else {
            continue;
        };
        for (id, now_count) in changes {
            let count = counts.get(&id).copied().unwrap_or(0);
            if now_count > count {
                let sent = sent.read().map_err(|_| "poisoned")?;
                if let Some(times) = sent.get(&id) {
                    for &at in times.iter().take(now_count).skip(count) {
                        if at >= from && at < to {
                            seen.latency.push(arrived - at);
                        }
                    }
                }
                counts.insert(id, now_count);
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(seen)
}
