//! Browsers as the live feed sees them: WebSocket clients signed in through the login
//! form, each reconnecting by itself (to the next web process, as a load balancer would
//! send it) with the browser's back-off, and counting what it is told.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::Error;
use crate::cluster::{EMAIL, PASSWORD};

/// What one client has seen.
#[derive(Debug, Default)]
struct Seen {
    /// When the feed last greeted it (`hello` on a new socket) or told it to refetch
    /// (`resync`): from then on it is in step.
    synced_at: Option<Instant>,
    /// When its last frame of changes arrived.
    changed_at: Option<Instant>,
    connected_to: Option<SocketAddr>,
    /// The newest version it was told of, per conversation.
    versions: HashMap<String, i64>,
    resyncs: usize,
}

/// What a client reads of a frame: each change's conversation id and version.
#[derive(serde::Deserialize)]
struct Frame {
    #[serde(default)]
    changes: Vec<FrameChange>,
}

#[derive(serde::Deserialize)]
struct FrameChange {
    conversation: FrameSummary,
}

#[derive(serde::Deserialize)]
struct FrameSummary {
    id: String,
    version: i64,
}

pub struct Clients {
    seen: Vec<Arc<Mutex<Seen>>>,
    frames: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    /// `count` clients of one session, connected to the first of `web` (the others are
    /// where they reconnect when it goes away).
    pub async fn connect(web: &[SocketAddr], count: usize) -> Result<Self, Error> {
        let mut login = crate::http::Client::new(web[0]);
        login.sign_in(EMAIL, PASSWORD).await?;
        let cookie = login.cookie().ok_or("sign-in set no cookie")?.to_owned();
        let frames = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Self {
            seen: Vec::new(),
            frames: frames.clone(),
            stop: stop.clone(),
            tasks: Vec::new(),
        };
        for _ in 0..count {
            let seen = Arc::new(Mutex::new(Seen::default()));
            clients.seen.push(seen.clone());
            clients.tasks.push(tokio::spawn(run(
                web.to_vec(),
                cookie.clone(),
                seen,
                frames.clone(),
                stop.clone(),
            )));
        }
        let started = Instant::now();
        clients
            .wait("every client connected", Duration::from_secs(60), |s| {
                s.synced_at.is_some_and(|at| at >= started)
            })
            .await?;
        Ok(clients)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Frames of changes received by all clients so far.
    pub fn frames(&self) -> usize {
        self.frames.load(Ordering::Relaxed)
    }

    /// Waits until every client satisfies `done`; how long that took.
    async fn wait(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> Result<Duration, Error> {
        let started = Instant::now();
        loop {
            let mut all = true;
            for seen in &self.seen {
                if !done(&*seen.lock().await) {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(format!("{what}: not within {limit:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every client has been put back in step (a new socket's `hello`, or a
    /// `resync`) after `since`, then told of a change, connected to `addr` if given; the
    /// time from `since` until then.
    ///
    /// `since` must be taken before the fault: the feed may put clients back in step
    /// before whoever caused the fault sees it over (a relay subscribes to a Redis that
    /// is still loading its data, which answers SUBSCRIBE but not PING).
    pub async fn resynced(
        &self,
        since: Instant,
        addr: Option<SocketAddr>,
    ) -> Result<Duration, Error> {
        let in_step = |s: &Seen| {
            s.synced_at
                .is_some_and(|synced| synced >= since && s.changed_at.is_some_and(|c| c >= synced))
                && addr.is_none_or(|addr| s.connected_to == Some(addr))
        };
        let waited = self
            .wait(
                "every client back in step and told of a change",
                Duration::from_secs(120),
                in_step,
            )
            .await;
        if let Err(e) = waited {
            return Err(format!("{e} ({})", self.describe(since).await).into());
        }
        Ok(since.elapsed())
    }

    /// Where the clients stand relative to `since`, for a failure's message.
    async fn describe(&self, since: Instant) -> String {
        let (mut unsynced, mut untold, mut disconnected) = (0, 0, 0);
        for seen in &self.seen {
            let seen = seen.lock().await;
            match seen.synced_at {
                Some(synced) if synced >= since => {
                    untold += usize::from(seen.changed_at.is_none_or(|c| c < synced));
                }
                _ => unsynced += 1,
            }
            disconnected += usize::from(seen.connected_to.is_none());
        }
        format!(
            "of {} clients, {unsynced} not put back in step, {untold} in step but told of no \
             change since, {disconnected} not connected",
            self.seen.len()
        )
    }

    /// Waits until every client has been told of a change after `since`, connected all
    /// along or back by itself; the time from `since` until then.
    pub async fn told_since(&self, since: Instant) -> Result<Duration, Error> {
        self.wait(
            "every client told of a change",
            Duration::from_secs(120),
            |s| s.changed_at.is_some_and(|at| at >= since),
        )
        .await?;
        Ok(since.elapsed())
    }

    /// Waits until every client has been told of each conversation's version in `want`
    /// (the store's, once ingest has caught up); how many never were, and the resyncs
    /// (which a browser repairs by refetching) the clients were sent.
    pub async fn told_of(&self, want: &HashMap<String, i64>) -> (usize, usize) {
        let up_to_date = |seen: &Seen| {
            want.iter()
                .all(|(id, version)| seen.versions.get(id).is_some_and(|v| v >= version))
        };
        let _ = self
            .wait(
                "every client told of every version",
                Duration::from_secs(30),
                up_to_date,
            )
            .await;
        let mut behind = 0;
        let mut resyncs = 0;
        for seen in &self.seen {
            let seen = seen.lock().await;
            behind += usize::from(!up_to_date(&seen));
            resyncs += seen.resyncs;
        }
        (behind, resyncs)
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.abort();
        }
    }
}

/// One client: connects, reads until the socket ends, moves to the next web process and
/// again, backing off as the browser does (200 ms doubling to 5 s).
async fn run(
    web: Vec<SocketAddr>,
    cookie: String,
    seen: Arc<Mutex<Seen>>,
    frames: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut at = 0;
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        let addr = web[at % web.len()];
        if let Ok(mut socket) = open(addr, &cookie).await {
            backoff = Duration::from_millis(200);
            seen.lock().await.connected_to = Some(addr);
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let now = Instant::now();
                let mut seen = seen.lock().await;
                if text.starts_with(r#"{"type":"hello"#) {
                    seen.synced_at = Some(now);
                } else if text.starts_with(r#"{"type":"resync"#) {
                    seen.synced_at = Some(now);
                    seen.resyncs += 1;
                } else {
                    seen.changed_at = Some(now);
                    frames.fetch_add(1, Ordering::Relaxed);
                    if let Ok(frame) = serde_json::from_str::<Frame>(&text) {
                        for change in frame.changes {
                            let newest = seen.versions.entry(change.conversation.id).or_default();
                            *newest = (*newest).max(change.conversation.version);
                        }
                    }
                }
            }
            seen.lock().await.connected_to = None;
        }
        at += 1;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: SocketAddr, cookie: &str) -> Result<Socket, Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie)?);
    headers.insert("origin", HeaderValue::from_str(&format!("http://{addr}"))?);
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(request),
    )
    .await??;
    Ok(socket)
}
