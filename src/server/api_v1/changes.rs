//! `GET /api/v1/changes`: the change stream, as Server-Sent Events. Ingest appends every
//! change it publishes to a change log in Redis (see `feed::Publisher`), a stream trimmed
//! to about `feed::CHANGE_LOG` entries. Each web process reads that log once
//! ([`ChangeLog::follow`]) and fans it out to its open streams; a client that reconnects
//! with `Last-Event-ID` is first given what it missed from the log, or `resync` when its
//! position is older than the log (it should then read the list again).
//!
//! An event's id is its log entry id, so ids are the same on every web process and a
//! client may reconnect to any of them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    Extension,
    extract::State,
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{SinkExt, StreamExt};
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio::sync::broadcast;

use super::{ApiError, Client, Params, Raw, pairs, schema::ChangeEvent};
use crate::backoff::Backoff;
use crate::server::state::AppState;
use crate::server::store::entry_order;

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub id: String,
    pub order: (i64, i64),
    pub conversation: String,
    pub version: i64,
}

/// Changes read from the log per request.
const PAGE: usize = 500;

/// Entries kept for streams that are behind; one further behind gets `resync`.
const FAN_OUT: usize = 4096;

/// This process's reader of the change log.
#[derive(Clone)]
pub struct ChangeLog {
    key: String,
    entries: broadcast::Sender<Arc<Logged>>,
}

impl ChangeLog {
    pub fn new(key: String) -> Self {
        let (entries, _) = broadcast::channel(FAN_OUT);
        Self { key, entries }
    }

    /// Reads new log entries for the life of the process, on a connection of its own
    /// (a blocking read would hold up a shared one), reconnecting with back-off.
    pub async fn follow(self, client: redis::Client) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut last = "$".to_owned();
        loop {
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(10)));
            let mut conn = match client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "change log: cannot connect; retrying");
                    tokio::time::sleep(backoff.delay(rand::random())).await;
                    continue;
                }
            };
            loop {
                let options = StreamReadOptions::default().block(5000).count(PAGE);
                let reply: Result<Option<StreamReadReply>, _> =
                    redis::AsyncCommands::xread_options(
                        &mut conn,
                        &[&self.key],
                        &[&last],
                        &options,
                    )
                    .await;
                let entries = match reply {
                    Ok(reply) => reply
                        .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect::<Vec<_>>())
                        .unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(error = %e, "change log: read failed; reconnecting");
                        break;
                    }
                };
                backoff.reset();
                for entry in entries {
                    last = entry.id.clone();
                    if let Some(logged) = logged(entry) {
                        // No receivers just means no stream is open.
                        let _ = self.entries.send(Arc::new(logged));
                    }
                }
            }
            tokio::time::sleep(backoff.delay(rand::random())).await;
        }
    }
}

fn logged(entry: redis::streams::StreamId) -> Option<Logged> {
    let conversation: String = entry.get("c")?;
    let version: i64 = entry.get("v")?;
    Some(Logged {
        order: entry_order(&entry.id)?,
        id: entry.id,
        conversation,
        version,
    })
}

/// The change stream.
#[utoipa::path(
    get, path = "/api/v1/changes", tag = "changes",
    params(
        ("conversation" = Option<String>, Query, description = "Only this conversation's changes."),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: the stream starts with every change after it, or with `resync` when the log no longer reaches back to it."),
    ),
    responses(
        (status = 200, description = "`text/event-stream`. `event: change` with `data` a ChangeEvent and `id` its position; `event: resync` when changes were missed (read the list again); a comment line as heartbeat every 15 s.", content_type = "text/event-stream", body = ChangeEvent),
        super::BadInput,
        super::Refused,
    ),
    security(("token" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    query: Raw,
) -> Result<Response, ApiError> {
    let params = Params::of(pairs(query)?, &["conversation"])?;
    let only = params.get("conversation").filter(|c| !c.is_empty());
    let since = match headers.get("last-event-id") {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default().trim().to_owned();
            if text.is_empty() {
                None
            } else {
                let order = entry_order(&text).ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be the id of an event this stream sent",
                    )
                })?;
                Some((text, order))
            }
        }
    };
    // Subscribed before the log is read, so nothing falls between the two.
    let live = state.changes.entries.subscribe();
    let (mut tx, rx) = futures::channel::mpsc::channel::<Event>(64);
    let heartbeat = state.api.heartbeat;
    tokio::spawn(async move {
        let run = feed(&state, &client, only, since, live, &mut tx);
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            _ = run => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    });
    Ok(Sse::new(rx.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response())
}

/// Sends the stream's events until the client leaves or its token is revoked.
async fn feed(
    state: &AppState,
    client: &Client,
    only: Option<String>,
    since: Option<(String, (i64, i64))>,
    mut live: broadcast::Receiver<Arc<Logged>>,
    tx: &mut futures::channel::mpsc::Sender<Event>,
) {
    let wanted = |conversation: &str| only.as_deref().is_none_or(|c| c == conversation);
    let mut last = None;
    if let Some((id, order)) = since {
        match missed(state, &id, order).await {
            Ok(Ok(entries)) => {
                for e in entries {
                    last = Some(e.order);
                    if wanted(&e.conversation) && tx.send(change(&e)).await.is_err() {
                        return;
                    }
                }
            }
            Ok(Err(newest)) => {
                // Changes up to the newest logged one are covered by the client's reread.
                last = newest.as_ref().map(|n| n.1);
                if tx.send(resync(newest.map(|n| n.0))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "change log not read: the client resyncs");
                if tx.send(resync(None)).await.is_err() {
                    return;
                }
            }
        }
    }
    let mut check = tokio::time::interval(state.api.heartbeat);
    check.tick().await;
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(e) => {
                    if last.is_some_and(|l| e.order <= l) {
                        continue;
                    }
                    last = Some(e.order);
                    if wanted(&e.conversation) && tx.send(change(&e)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if tx.send(resync(None)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = check.tick() => {
                // A revoked token's streams end within a heartbeat.
                match state.store.find_token_by_id(client.token.id).await {
                    Ok(Some(t)) if t.revoked_at.is_none() => {}
                    Ok(_) => return,
                    Err(e) => tracing::warn!(error = %e, "token not rechecked"),
                }
                if tx.is_closed() {
                    return;
                }
            }
        }
    }
}

/// The newest entry of the log, as its id and order.
type Newest = Option<(String, (i64, i64))>;

/// The log's entries after `id`, or, if the log no longer reaches back to it (or `id` is
/// ahead of it: a log that was reset), its newest entry.
async fn missed(
    state: &AppState,
    id: &str,
    order: (i64, i64),
) -> Result<Result<Vec<Logged>, Newest>, redis::RedisError> {
    let mut redis = state.redis.clone();
    let key = &state.changes.key;
    let end = |args: [&str; 2]| {
        let mut cmd = redis::cmd(if args[0] == "-" {
            "XRANGE"
        } else {
            "XREVRANGE"
        });
        cmd.arg(key).arg(args[0]).arg(args[1]).arg("COUNT").arg(1);
        cmd
    };
    let first: StreamRangeReply = end(["-", "+"]).query_async(&mut redis).await?;
    let newest: StreamRangeReply = end(["+", "-"]).query_async(&mut redis).await?;
    let newest = newest
        .ids
        .first()
        .and_then(|e| Some((e.id.clone(), entry_order(&e.id)?)));
    let first = first.ids.first().and_then(|e| entry_order(&e.id));
    match (first, &newest) {
        (Some(first), Some((_, last))) if first <= order && order <= *last => {}
        _ => return Ok(Err(newest)),
    }
    let mut found = Vec::new();
    let mut from = format!("({id}");
    loop {
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut redis)
            .await?;
        let n = page.ids.len();
        if let Some(last) = page.ids.last() {
            from = format!("({}", last.id);
        }
        found.extend(page.ids.into_iter().filter_map(logged));
        if n < PAGE {
            return Ok(Ok(found));
        }
    }
}

fn change(e: &Logged) -> Event {
    let data = ChangeEvent {
        conversation_id: e.conversation.clone(),
        version: e.version,
    };
    Event::default()
        .event("change")
        .id(&e.id)
        .json_data(&data)
        .unwrap_or_else(|_| Event::default().event("change"))
}

/// Changes were missed: read the list again. With `id`, the newest change the reread
/// covers, so that a client reconnecting after it resumes from there.
fn resync(id: Option<String>) -> Event {
    let event = Event::default().event("resync").data("{}");
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}
