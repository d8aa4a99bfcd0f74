//! The live feed. Ingest publishes the changes of each batch it stores, as one notice, to
//! a Redis pub/sub channel; each web process holds one subscription and fans the notices
//! out to its browsers over WebSockets. Going through Redis lets ingest and web run as separate
//! processes (or many of each) and still reach every browser.
//!
//! A notice is serialised once, by the publisher, and forwarded as the same shared,
//! reference-counted text to every socket, and the frames waiting for a socket leave in one
//! write. A list needs only the summaries of the changed conversations, so each web
//! process also makes, once per notice, the text without the new messages; only a
//! browser showing a conversation whose new message a notice carries gets the full text
//! (a browser says which conversation it shows with a [`FeedRequest`]). Browsers repair
//! any gap by refetching: a new connection starts with `hello`, and a socket that falls
//! behind gets `resync` instead of stalling the others.
//!
//! A second channel carries session ends: when an account is disabled or its password
//! changes, every web process closes that user's sockets at once (close code
//! [`SIGNED_OUT`]; the browser then goes to the login page).

use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{
        State,
        ws::{
            CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code,
        },
    },
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use redis::AsyncCommands;
use tokio::sync::broadcast;

use crate::api::{Change, FeedFrame, FeedRequest};
use crate::backoff::Backoff;
use crate::server::state::AppState;

/// Publishes change notices for every web process.
#[derive(Clone)]
pub struct Publisher {
    redis: redis::aio::ConnectionManager,
    channel: String,
}

impl Publisher {
    pub fn new(redis: redis::aio::ConnectionManager, channel: String) -> Self {
        Self { redis, channel }
    }

    /// Publishes `changes`, in order, as frames of at most [`FRAME_CHANGES`] changes, in
    /// one pipelined round trip.
    pub async fn publish(&self, changes: Vec<Change>) -> Result<(), redis::RedisError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        // The change log first (`/api/v1/changes`): one entry per change, trimmed to
        // about CHANGE_LOG entries.
        let log = change_log_key(&self.channel);
        for change in &changes {
            pipe.cmd("XADD")
                .arg(&log)
                .arg("MAXLEN")
                .arg("~")
                .arg(CHANGE_LOG)
                .arg("*")
                .arg("c")
                .arg(&change.conversation.id)
                .arg("v")
                .arg(change.conversation.version)
                .ignore();
        }
        for text in frames(changes).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "notice not serialisable",
                e.to_string(),
            ))
        })? {
            pipe.publish(&self.channel, text).ignore();
        }
        let mut conn = self.redis.clone();
        pipe.query_async::<()>(&mut conn).await
    }
}

impl Publisher {
    /// Tells the browsers that the timelines of `conversations` grew without a change.
    pub async fn publish_arrivals(
        &self,
        conversations: Vec<String>,
    ) -> Result<(), redis::RedisError> {
        let text = serde_json::to_string(&FeedFrame::Arrivals { conversations }).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "notice not serialisable",
                e.to_string(),
            ))
        })?;
        let mut conn = self.redis.clone();
        conn.publish(&self.channel, text).await
    }
}

/// Changes the change log keeps (about: it is trimmed in whole blocks), for clients of
/// `/api/v1/changes` that reconnect: a minute or more of a busy ledger.
pub const CHANGE_LOG: usize = 100_000;

/// The Redis stream holding the change log of the changes published on `channel`.
pub fn change_log_key(channel: &str) -> String {
    format!("{channel}:log")
}

/// `changes`, in order, as the text of frames of at most [`FRAME_CHANGES`] changes.
fn frames(mut changes: Vec<Change>) -> Result<Vec<String>, serde_json::Error> {
    let mut texts = Vec::with_capacity(changes.len().div_ceil(FRAME_CHANGES));
    while !changes.is_empty() {
        let rest = changes.split_off(changes.len().min(FRAME_CHANGES));
        texts.push(serde_json::to_string(&FeedFrame::Changes { changes })?);
        changes = rest;
    }
    Ok(texts)
}

/// Most changes in one frame: a browser parses a frame at once, so a huge batch (a replay,
/// a backlog) is cut into frames it can take without a visible pause.
pub const FRAME_CHANGES: usize = 200;

/// A socket's read buffer, and the largest message a browser may send (it sends only a
/// short [`FeedRequest`] when it opens or leaves a conversation).
const READ_BUFFER: usize = 4 * 1024;
/// Frames gathered for one socket before they are written out (a burst is flushed anyway).
const WRITE_BUFFER: usize = 16 * 1024;

/// Frames the hub keeps for sockets that are behind; a socket further behind gets
/// `resync`. A frame holds a whole batch, so this is a few seconds of a busy ledger, and
/// the memory the hub may hold stays bounded by it.
const HUB_FRAMES: usize = 256;

use crate::api::{SESSION_CHANGED, SIGNED_OUT};
use crate::server::auth::session::{Check, Ended, FeedSession, now_ms, recheck_every};

/// A notice as the sockets take it.
#[derive(Debug)]
pub struct Frame {
    /// The changes without their new messages: what a list shows. The same text as
    /// `full` when no change has a message.
    summaries: Utf8Bytes,
    full: Utf8Bytes,
    /// The conversations whose new messages only `full` carries, sorted.
    messages_of: Vec<String>,
    states: Vec<Changed>,
}

/// A changed conversation's new summary.
pub type Changed = crate::api::ConversationSummary;

impl Frame {
    /// A frame every browser gets whole.
    fn whole(text: Utf8Bytes) -> Arc<Self> {
        Self::with(text, Vec::new())
    }

    fn with(text: Utf8Bytes, states: Vec<Changed>) -> Arc<Self> {
        Arc::new(Self {
            summaries: text.clone(),
            full: text,
            messages_of: Vec::new(),
            states,
        })
    }

    /// Splits a published notice, once for all of this process's sockets. A notice this
    /// build cannot read (from a newer publisher) is forwarded whole.
    fn of(text: String) -> Arc<Self> {
        let full = Utf8Bytes::from(text);
        let Ok(FeedFrame::Changes { mut changes }) = serde_json::from_str(full.as_str()) else {
            return Self::whole(full);
        };
        let states: Vec<Changed> = changes.iter().map(|c| c.conversation.clone()).collect();
        let mut messages_of: Vec<String> = changes
            .iter_mut()
            .filter_map(|c| c.message.take().map(|_| c.conversation.id.clone()))
            .collect();
        if messages_of.is_empty() {
            return Self::with(full, states);
        }
        messages_of.sort_unstable();
        messages_of.dedup();
        match serde_json::to_string(&FeedFrame::Changes { changes }) {
            Ok(summaries) => Arc::new(Self {
                summaries: summaries.into(),
                full,
                messages_of,
                states,
            }),
            Err(_) => Self::with(full, states),
        }
    }

    /// Each changed conversation's new summary, as the notice says (read once here, for
    /// the tab counts and the attention queue, see `tally`).
    pub fn states(&self) -> &[Changed] {
        &self.states
    }

    /// Whether this frame tells every view to refetch: changes may have been lost.
    pub fn is_resync(&self) -> bool {
        self.full == RESYNC
    }

    /// The text for a browser showing `watching`.
    fn text_for(&self, watching: Option<&str>) -> Utf8Bytes {
        match watching {
            Some(id)
                if self
                    .messages_of
                    .binary_search_by(|m| m.as_str().cmp(id))
                    .is_ok() =>
            {
                self.full.clone()
            }
            _ => self.summaries.clone(),
        }
    }
}

/// The process-wide fan-out of feed frames to this process's WebSockets.
#[derive(Clone)]
pub struct Hub {
    frames: broadcast::Sender<Arc<Frame>>,
    /// Sessions that ended (see [`Ended`]).
    kicks: broadcast::Sender<Ended>,
    channel: String,
}

impl Hub {
    /// A hub relaying change notices from `channel`.
    pub fn new(channel: String) -> Self {
        let (frames, _) = broadcast::channel(HUB_FRAMES);
        let (kicks, _) = broadcast::channel(64);
        Self {
            frames,
            kicks,
            channel,
        }
    }

    fn sessions_channel(&self) -> String {
        format!("{}:sessions", self.channel)
    }

    /// Every frame this process relays from now on (a `resync` after any break).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.frames.subscribe()
    }

    fn send(&self, frame: Arc<Frame>) {
        // No receivers just means no browser is connected.
        let _ = self.frames.send(frame);
    }

    /// Keeps a subscription to `channel` open for the life of the process, reconnecting
    /// with back-off. After any break every browser is told to resync, since notices
    /// published meanwhile are gone.
    pub async fn relay(self, client: redis::Client) {
        let channel = self.channel.clone();
        let sessions = self.sessions_channel();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            // Bounded: a Redis that accepts the connection but does not answer (starting,
            // loading its data, half gone) must not hold the relay, and with it every
            // browser's resync, for as long as it takes.
            let subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&[&channel, &sessions]).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match subscribed {
                Ok(Ok(mut pubsub)) => {
                    tracing::info!(%channel, "live feed subscribed");
                    backoff.reset();
                    self.send(Frame::whole(RESYNC));
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let ended = msg.get_channel_name() == sessions;
                        match msg.get_payload::<String>() {
                            Ok(notice) if ended => {
                                let _ = self.kicks.send(Ended::decode(&notice));
                            }
                            Ok(text) => self.send(Frame::of(text)),
                            Err(e) => tracing::warn!(error = %e, "unreadable notice"),
                        }
                    }
                    tracing::warn!("live feed subscription ended; resubscribing");
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "live feed: cannot subscribe"),
                Err(_) => tracing::warn!(
                    timeout_secs = SUBSCRIBE_TIMEOUT.as_secs(),
                    "live feed: Redis did not answer the subscription in time"
                ),
            }
            tokio::time::sleep(backoff.delay(rand::random())).await;
        }
    }
}

/// How long connecting to Redis and subscribing may take before the relay tries again.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The fixed frames, as `FeedFrame::Hello` and `FeedFrame::Resync` serialise.
const HELLO: Utf8Bytes = Utf8Bytes::from_static(r#"{"type":"hello"}"#);
const RESYNC: Utf8Bytes = Utf8Bytes::from_static(r#"{"type":"resync"}"#);

/// Tells every web process to close the live feeds of the sessions that `ended`.
pub async fn kick(state: &AppState, ended: &Ended) {
    let mut redis = state.redis.clone();
    let sent: Result<i64, _> = redis
        .publish(state.hub.sessions_channel(), ended.encode())
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "live feeds of an ended session not closed");
    }
}

/// `GET /ws`: the live feed of one browser. The auth guard has already refused anonymous
/// callers (and the origin check cross-site ones).
pub async fn websocket(
    State(state): State<AppState>,
    session: crate::server::auth::Session,
    upgrade: WebSocketUpgrade,
) -> Response {
    let frames = state.hub.frames.subscribe();
    let kicks = state.hub.kicks.subscribe();
    let Some(watch) = FeedSession::of(&session, &state.auth.digests) else {
        return (axum::http::StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    upgrade
        // A browser only sends a line now and then; the buffers that tungstenite sizes
        // for bulk transfers (128 KiB each way) would cost 128 MB at 1,000 sockets.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| serve_socket(socket, state, watch, frames, kicks))
}

/// Closes `socket` with `code`.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = socket.send(WsMessage::Close(Some(frame))).await;
}

async fn serve_socket(
    mut socket: WebSocket,
    state: AppState,
    session: FeedSession,
    mut frames: broadcast::Receiver<Arc<Frame>>,
    mut kicks: broadcast::Receiver<Ended>,
) {
    let mut shutdown = state.shutdown.clone();
    let every = recheck_every(state.auth.idle);
    // The session is checked now, then at least every `every` and at its deadline.
    let mut deadline = now_ms();
    let mut next_check = tokio::time::Instant::now();
    let mut greeted = false;
    // The conversation the browser shows, whose new messages it gets.
    let mut watching: Option<String> = None;
    loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(next_check) => {
                let check = session.check(&state.auth, &state.store).await;
                let now = now_ms();
                match check {
                    Check::Until(until) => deadline = until,
                    Check::Unknown if now < deadline => {}
                    // Past what is known of the session and the store cannot say more:
                    // the browser reconnects (with back-off), and the guard decides then.
                    // Not "signed out": the session may well have been slid meanwhile.
                    Check::Unknown => {
                        close(&mut socket, close_code::AGAIN, "session not checked").await;
                        break;
                    }
                    Check::Changed => {
                        close(&mut socket, SESSION_CHANGED, "session changed").await;
                        break;
                    }
                    Check::Ended => {
                        close(&mut socket, SIGNED_OUT, "session ended").await;
                        break;
                    }
                }
                let to_deadline = Duration::from_millis(deadline.saturating_sub(now).max(0) as u64);
                next_check = tokio::time::Instant::now() + every.min(to_deadline + Duration::from_millis(50));
                if !greeted {
                    greeted = true;
                    if send_text(&mut socket, HELLO).await.is_err() {
                        break;
                    }
                }
            }
            frame = frames.recv(), if greeted => {
                let text = match frame {
                    Ok(frame) => frame.text_for(watching.as_deref()),
                    Err(broadcast::error::RecvError::Lagged(_)) => RESYNC,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if send_burst(&mut socket, text, &mut frames, watching.as_deref())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            kicked = kicks.recv() => match kicked {
                Ok(Ended::Changed(user)) if user == session.user => {
                    close(&mut socket, SESSION_CHANGED, "session changed").await;
                    break;
                }
                Ok(ended) if ended.ends(&session.user, session.tag.as_deref()) => {
                    close(&mut socket, SIGNED_OUT, "session ended").await;
                    break;
                }
                // Missed notices might have been this session's: check it now.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    next_check = tokio::time::Instant::now();
                }
                _ => {}
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(WsMessage::Text(text))) => {
                    match serde_json::from_str::<FeedRequest>(text.as_str()) {
                        Ok(request) => watching = request.watch,
                        // Only the dashboard's own page talks to the feed; anything else
                        // changes nothing.
                        Err(e) => tracing::debug!(error = %e, "unreadable feed request ignored"),
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = async { shutdown.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                // 1012: the browser reconnects (with back-off) and resyncs.
                close(&mut socket, close_code::RESTART, "server restarting").await;
                break;
            }
        }
    }
}

async fn send_text(socket: &mut WebSocket, text: Utf8Bytes) -> Result<(), axum::Error> {
    socket.send(WsMessage::Text(text)).await
}

/// Most frames waiting for one socket at once (they go out in one write).
const BURST: usize = 64;

/// Sends `first` and the frames already waiting behind it with one flush: under load a
/// socket costs one write per burst rather than one per frame.
async fn send_burst(
    socket: &mut WebSocket,
    first: Utf8Bytes,
    frames: &mut broadcast::Receiver<Arc<Frame>>,
    watching: Option<&str>,
) -> Result<(), axum::Error> {
    let mut text = first;
    for _ in 1..BURST {
        socket.feed(WsMessage::Text(text)).await?;
        text = match frames.try_recv() {
            Ok(next) => next.text_for(watching),
            Err(broadcast::error::TryRecvError::Lagged(_)) => RESYNC,
            Err(_) => return socket.flush().await,
        };
    }
    socket.send(WsMessage::Text(text)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(version: i64) -> Change {
        Change {
            conversation: crate::api::ConversationSummary {
                version,
                ..crate::api::ConversationSummary::example("c1", crate::api::Status::Active)
            },
            message: None,
        }
    }

    #[test]
    fn a_frame_says_its_conversations_states_once_and_whether_it_is_a_resync() {
        let texts = frames(vec![change(3), change(4)]).unwrap();
        let frame = Frame::of(texts[0].clone());
        assert_eq!(
            frame
                .states()
                .iter()
                .map(|s| (s.id.as_str(), s.status, s.version))
                .collect::<Vec<_>>(),
            [
                ("c1", crate::api::Status::Active, 3),
                ("c1", crate::api::Status::Active, 4)
            ]
        );
        assert!(!frame.is_resync());
        assert!(Frame::whole(RESYNC).is_resync());
        assert!(Frame::whole(RESYNC).states().is_empty());
    }

    #[test]
    fn a_batch_of_changes_leaves_in_order_in_frames_a_browser_can_take() {
        let texts = frames((1..=450).map(change).collect()).unwrap();
        let versions: Vec<Vec<i64>> = texts
            .iter()
            .map(|text| match serde_json::from_str(text).unwrap() {
                FeedFrame::Changes { changes } => {
                    changes.iter().map(|c| c.conversation.version).collect()
                }
                other => panic!("unexpected frame {other:?}"),
            })
            .collect();
        assert_eq!(
            versions.iter().map(Vec::len).collect::<Vec<_>>(),
            [200, 200, 50]
        );
        assert!(versions.concat().into_iter().eq(1..=450));
        assert!(frames(Vec::new()).unwrap().is_empty());
    }

    fn with_message(id: &str, version: i64) -> Change {
        let mut change = change(version);
        change.conversation.id = id.to_owned();
        change.message = Some(crate::api::Message {
            id: format!("s{version}"),
            seq: Some(version),
            speaker: crate::api::Speaker::Customer,
            text: format!("message {version} of {id}"),
            rationale: None,
            answer_input_type: None,
            at_ms: 0,
        });
        change
    }

    fn changes(text: &Utf8Bytes) -> Vec<Change> {
        match serde_json::from_str(text.as_str()).unwrap() {
            FeedFrame::Changes { changes } => changes,
            other => panic!("unexpected frame {other:?}"),
        }
    }

    #[test]
    fn a_list_gets_summaries_and_the_shown_conversation_its_messages() {
        let published = vec![change(1), with_message("c2", 2), with_message("c3", 3)];
        let text = frames(published.clone()).unwrap().remove(0);
        let frame = Frame::of(text.clone());

        // A list, or a page showing a conversation without a new message: summaries.
        for watching in [None, Some("c1"), Some("c9")] {
            let sent = changes(&frame.text_for(watching));
            assert!(sent.iter().all(|c| c.message.is_none()), "{watching:?}");
            let summaries: Vec<_> = sent.into_iter().map(|c| c.conversation).collect();
            let expected: Vec<_> = published.iter().map(|c| c.conversation.clone()).collect();
            assert_eq!(summaries, expected);
        }
        // The page showing c2 gets the notice as published, the one text for all of them.
        assert_eq!(frame.text_for(Some("c2")).as_str(), text);
        assert_eq!(changes(&frame.text_for(Some("c3"))), published);
    }

    #[test]
    fn notices_without_messages_and_unreadable_ones_go_out_whole() {
        let text = frames(vec![change(1), change(2)]).unwrap().remove(0);
        let frame = Frame::of(text.clone());
        assert_eq!(frame.text_for(None).as_str(), text);
        assert!(frame.messages_of.is_empty());

        let from_a_newer_publisher = r#"{"type":"digest","of":3}"#.to_owned();
        let frame = Frame::of(from_a_newer_publisher.clone());
        assert_eq!(frame.text_for(None).as_str(), from_a_newer_publisher);
        assert_eq!(frame.text_for(Some("c1")).as_str(), from_a_newer_publisher);
    }

    #[test]
    fn fixed_frames_match_their_serialisation() {
        assert_eq!(
            HELLO.as_str(),
            serde_json::to_string(&FeedFrame::Hello).unwrap()
        );
        assert_eq!(
            RESYNC.as_str(),
            serde_json::to_string(&FeedFrame::Resync).unwrap()
        );
    }
}
