//! The browser's end of the live feed. One WebSocket per tab for the whole visit (opened
//! after hydration, kept across pages, reopened with back-off) appends every change it brings to a short in-memory log; views
//! follow the log from the moment their data was fetched, so a change that lands while a
//! fetch is in flight is applied rather than lost. A new connection or a `resync` frame starts a new
//! epoch: every view refetches, because changes may have been missed meanwhile.
//!
//! The tab tells the server which conversation it shows ([`LiveFeed::watch`]): only that
//! conversation's changes come with their new messages, the others as summaries, which
//! is all a list shows. A change that comes without its message (sent before the server
//! knew) is a gap the conversation view fills by refetching.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::api::{Change, FeedFrame};

/// How the feed is doing, for the badge in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Live,
    /// The connection broke; what is shown is as of `since` (local `hh:mm`).
    Reconnecting {
        since: (u32, u32),
    },
}

/// Changes kept for views that fall behind, and for a list left and shown again by Back
/// (it applies what it missed); a view further behind refetches.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const KEEP: usize = 2048;

#[derive(Debug, Clone, Default)]
struct FeedLog {
    epoch: u64,
    /// Position the next change will get.
    next: u64,
    recent: VecDeque<(u64, Change)>,
    /// Counts `Arrivals` frames; `arrived` holds the last one's conversations.
    arrivals: u64,
    arrived: Vec<String>,
}

/// A position in the feed: everything after it is yet to be applied by a view.
pub type Mark = (u64, u64);

#[derive(Clone, Copy)]
pub struct LiveFeed {
    pub state: RwSignal<LiveState>,
    log: RwSignal<FeedLog>,
    started: StoredValue<bool>,
    /// The page itself is ending the session (a password change) and goes to the login
    /// page on its own: the feed's "session ended" close is expected, not news.
    expected_sign_out: StoredValue<bool>,
    /// The conversation the tab shows, whose changes should bring their messages.
    watching: StoredValue<Option<String>>,
    /// Requests to the open socket, while there is one.
    #[cfg(feature = "hydrate")]
    requests: StoredValue<Option<futures::channel::mpsc::UnboundedSender<String>>>,
}

impl LiveFeed {
    pub fn provide() -> Self {
        let feed = Self {
            state: RwSignal::new(LiveState::Connecting),
            log: RwSignal::new(FeedLog::default()),
            started: StoredValue::new(false),
            expected_sign_out: StoredValue::new(false),
            watching: StoredValue::new(None),
            #[cfg(feature = "hydrate")]
            requests: StoredValue::new(None),
        };
        provide_context(feed);
        feed
    }

    pub fn get() -> Self {
        use_context::<Self>().unwrap_or_else(Self::provide)
    }

    /// Says whether the page is about to end its own session (see `expected_sign_out`).
    pub fn expect_sign_out(&self, expected: bool) {
        self.expected_sign_out.set_value(expected);
    }

    /// Tells the server which conversation this tab shows (`None`: none), so that its
    /// changes come with their new messages.
    pub fn watch(&self, id: Option<String>) {
        if self.watching.try_with_value(|w| *w == id).unwrap_or(true) {
            return;
        }
        self.watching.try_set_value(id);
        #[cfg(feature = "hydrate")]
        self.send_watching();
    }

    /// The page showing conversation `id` is left: its changes need their messages no
    /// more, unless the next page already asked for them.
    pub fn unwatch(&self, id: &str) {
        if self
            .watching
            .try_with_value(|w| w.as_deref() == Some(id))
            .unwrap_or(false)
        {
            self.watch(None);
        }
    }

    #[cfg(feature = "hydrate")]
    fn send_watching(&self) {
        let request = crate::api::FeedRequest {
            watch: self.watching.try_get_value().flatten(),
        };
        let Ok(text) = serde_json::to_string(&request) else {
            return;
        };
        self.requests.try_with_value(|requests| {
            if let Some(requests) = requests {
                let _ = requests.unbounded_send(text);
            }
        });
    }

    /// Where the feed is now; take it just before fetching data a view will follow.
    pub fn mark(&self) -> Mark {
        self.log.with_untracked(|log| (log.epoch, log.next))
    }

    /// Calls `on_change` for each change after `from`, in order, and `on_resync`
    /// instead when changes after `from` are no longer known (new connection, server asked,
    /// or too far behind). Runs in the browser only. Says how far the view has got.
    pub fn follow(
        self,
        from: Mark,
        on_change: impl Fn(&Change) + 'static,
        on_resync: impl Fn() + 'static,
    ) -> StoredValue<Mark> {
        self.follow_boxed(from, Box::new(on_change), Box::new(on_resync))
    }

    /// [`Self::follow`], compiled once for every view that follows the feed rather than
    /// once per view (the browser downloads each copy).
    fn follow_boxed(
        self,
        from: Mark,
        on_change: Box<dyn Fn(&Change)>,
        on_resync: Box<dyn Fn()>,
    ) -> StoredValue<Mark> {
        // Plain (thread-safe) storage: on the server a view is rendered on one worker and may
        // be dropped on another, which thread-local storage does not survive.
        let seen = StoredValue::new(from);
        Effect::new(move |_| {
            let (epoch, next) = seen.get_value();
            let (now, changes) = self.log.with(|log| {
                let oldest = log.recent.front().map_or(log.next, |(n, _)| *n);
                let changes = (log.epoch == epoch && next >= oldest).then(|| {
                    log.recent
                        .iter()
                        .filter(|(n, _)| *n >= next)
                        .map(|(_, c)| c.clone())
                        .collect::<Vec<_>>()
                });
                ((log.epoch, log.next), changes)
            });
            if now == (epoch, next) {
                return;
            }
            seen.set_value(now);
            match changes {
                Some(changes) => changes.iter().for_each(&on_change),
                None => on_resync(),
            }
        });
        seen
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn push(&self, frame: FeedFrame) {
        self.log.update(|log| match frame {
            FeedFrame::Hello | FeedFrame::Resync => {
                log.epoch += 1;
                log.recent.clear();
            }
            FeedFrame::Changes { changes } => {
                for change in changes {
                    log.recent.push_back((log.next, change));
                    log.next += 1;
                }
                while log.recent.len() > KEEP {
                    log.recent.pop_front();
                }
            }
            FeedFrame::Arrivals { conversations } => {
                log.arrivals = log.arrivals.wrapping_add(1);
                log.arrived = conversations;
            }
        });
    }

    /// The number of the last `Arrivals` frame if it named `id` (tracked: a view calling
    /// this reruns on every frame). Entries that change nothing (duplicates, refusals)
    /// reach only the timeline, which follows these as well as the changes.
    pub fn arrived(&self, id: &str) -> Option<u64> {
        self.log
            .with(|log| log.arrived.iter().any(|c| c == id).then_some(log.arrivals))
    }

    /// Opens the WebSocket once per tab (further calls do nothing).
    pub fn start(self) {
        if self.started.get_value() {
            return;
        }
        self.started.set_value(true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::connect(self));
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::pin::pin;
    use std::time::Duration;

    use futures::StreamExt;
    use futures::future::{Either, select};
    use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};
    use leptos::prelude::{GetUntracked, GetValue, Set, SetValue};

    use super::{LiveFeed, LiveState};
    use crate::api::{FeedFrame, SESSION_CHANGED, SIGNED_OUT};
    use crate::backoff::Backoff;

    fn url() -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/ws", location.host().ok()?))
    }

    /// A tab that was hidden may have been throttled or frozen: when it is shown again,
    /// every view refetches.
    fn resync_when_shown(feed: LiveFeed) {
        use wasm_bindgen::{JsCast, closure::Closure};
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let target = document.clone();
        let on_change = Closure::<dyn Fn()>::new(move || {
            if !target.hidden() {
                feed.push(FeedFrame::Resync);
            }
        });
        if document
            .add_event_listener_with_callback(
                "visibilitychange",
                on_change.as_ref().unchecked_ref(),
            )
            .is_ok()
        {
            // Lives as long as the tab.
            on_change.forget();
        }
    }

    pub async fn connect(feed: LiveFeed) {
        let Some(url) = url() else { return };
        resync_when_shown(feed);
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        loop {
            if let Ok(socket) = WebSocket::open(&url) {
                let (write, mut read) = socket.split();
                let (requests, outgoing) = futures::channel::mpsc::unbounded::<String>();
                feed.requests.set_value(Some(requests));
                // A new socket knows nothing of this tab yet.
                feed.send_watching();
                let reading = async {
                    while let Some(message) = read.next().await {
                        let message = match message {
                            Ok(message) => message,
                            Err(WebSocketError::ConnectionClose(close))
                                if close.code == SIGNED_OUT =>
                            {
                                return true;
                            }
                            Err(WebSocketError::ConnectionClose(close))
                                if close.code == SESSION_CHANGED =>
                            {
                                // Another role: the page is loaded again as it now sees it.
                                if let Some(window) = web_sys::window() {
                                    let _ = window.location().reload();
                                }
                                return false;
                            }
                            Err(_) => break,
                        };
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let Ok(frame) = serde_json::from_str::<FeedFrame>(&text) else {
                            continue;
                        };
                        if frame == FeedFrame::Hello {
                            feed.state.set(LiveState::Live);
                            backoff.reset();
                        }
                        feed.push(frame);
                    }
                    false
                };
                let writing = outgoing.map(|text| Ok(Message::Text(text))).forward(write);
                // Either side failing ends the connection; the other is dropped with it.
                let signed_out = match select(pin!(reading), pin!(writing)).await {
                    Either::Left((signed_out, _)) => signed_out,
                    Either::Right(_) => false,
                };
                feed.requests.set_value(None);
                if signed_out {
                    // Signed out, expired, or the account disabled or given a new password.
                    if !feed.expected_sign_out.get_value()
                        && let Some(window) = web_sys::window()
                    {
                        let _ = window.location().set_href("/login?ended=1");
                    }
                    return;
                }
            }
            if feed.state.get_untracked() == LiveState::Live
                || feed.state.get_untracked() == LiveState::Connecting
            {
                let now = js_sys::Date::new_0();
                feed.state.set(LiveState::Reconnecting {
                    since: (now.get_hours(), now.get_minutes()),
                });
            }
            gloo_timers::future::sleep(backoff.delay(js_sys::Math::random())).await;
        }
    }
}
