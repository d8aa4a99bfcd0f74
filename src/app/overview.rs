//! `/`: the overview, the page a supervisor lands on: what is happening now. Conversations
//! in progress and customers waiting for a reply, today's decisions, the last 24 hours
//! hour by hour (an SVG drawn on the server, with a table for screen readers), the
//! attention queue, and for admins ingest's health. Every figure links to the list of
//! what it counts. Live: a change from the feed reads the figures again (at most once a
//! second), and so does the moment the server says time alone changes them (a wait
//! becomes an alert, a referral expires, an hour passes), to the second.
//!
//! Days and hours are the browser's: the page sends its offset from UTC, and keeps it in
//! a cookie so the server renders the next visit in the same zone.

use leptos::prelude::*;

use super::clock::Clock;
use super::conversations::{Chips, StatusBadge};
use super::live::LiveFeed;
use super::notify::NotifyToggle;
use crate::api::ConversationSummary;
use crate::api::attention::{self, HourBar, Overview, get_overview};

/// The cookie holding the browser's offset from UTC, in minutes east.
const ZONE_COOKIE: &str = "tz_offset";

#[component]
pub fn OverviewPage() -> impl IntoView {
    let offset = RwSignal::new(rendered_offset());
    // The browser's own zone wins, and is kept for the next server rendering.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let own = browser_offset();
        remember_offset(own);
        if own != offset.get_untracked() {
            offset.set(own);
        }
    });
    let overview = Resource::new(move || offset.get(), get_overview);
    let pending = StoredValue::new(false);
    let refetch = move || {
        if !pending.get_value() {
            pending.set_value(true);
            set_timeout(
                move || {
                    pending.try_set_value(false);
                    overview.refetch();
                },
                std::time::Duration::from_secs(1),
            );
        }
    };
    let feed = LiveFeed::get();
    feed.follow(feed.mark(), move |_| refetch(), refetch);
    // Read again when time alone changes the figures; the server says when, in its clock.
    #[cfg(feature = "hydrate")]
    {
        let due = StoredValue::new(None::<TimeoutHandle>);
        Effect::new(move |_| {
            let delay = overview.with(|o| {
                let o = o.as_ref()?.as_ref().ok()?;
                Some(o.next_change_ms? - o.now_ms)
            });
            if let Some(pending) = due.get_value() {
                pending.clear();
            }
            // A moment after it is due, and at most once a second.
            let wait = |ms: i64| std::time::Duration::from_millis((ms + 250).max(1_000) as u64);
            let next = delay
                .and_then(|ms| set_timeout_with_handle(move || overview.refetch(), wait(ms)).ok());
            due.set_value(next);
        });
        on_cleanup(move || {
            if let Some(pending) = due.try_get_value().flatten() {
                pending.clear();
            }
        });
    }
    view! {
        <main class="page overview">
            <div class="list-head">
                <h1>"Overview"</h1>
                <NotifyToggle />
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading the overview…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|o| match o {
                            Ok(o) => view! { <Figures o /> }.into_any(),
                            Err(e) => super::load_failed("the overview", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

/// A link to the conversation list with `params`.
fn list(params: &[(&str, Option<&str>)]) -> String {
    super::paging::url("/conversations", params)
}

/// `12 min`, `2 h 5 min`, `40 s`.
fn span(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}

#[component]
fn Figures(o: Overview) -> impl IntoView {
    let since = o.day_start_ms.to_string();
    let decided =
        |status: Option<&str>| list(&[("status", status), ("decided_since", Some(since.as_str()))]);
    let longest = o.longest_wait_since_ms;
    let read_at = o.now_ms;
    let longest_href = o
        .longest_wait_id
        .as_ref()
        .map(|id| format!("/conversations/{id}"));
    let rate = o
        .approval_rate()
        .map_or_else(|| "–".to_owned(), |r| format!("{r:.0} %"));
    let median = o.median_to_decision_ms.map_or_else(|| "–".to_owned(), span);
    let ingest = o.ingest.clone().map(|i| {
        let or_dash = |n: Option<i64>| n.map_or_else(|| "–".to_owned(), |n| n.to_string());
        view! {
            <section class="panel" aria-labelledby="ingest-h">
                <h2 id="ingest-h">"Ingest"</h2>
                <dl class="figures">
                    <div>
                        <dt>"Dead-lettered, last 24 h"</dt>
                        <dd data-testid="dead-letters">{or_dash(i.dead_letters)}</dd>
                    </div>
                    <div>
                        <dt>"Lag (entries not yet read)"</dt>
                        <dd data-testid="ingest-lag">{or_dash(i.lag)}</dd>
                    </div>
                    <div>
                        <dt>"Read, not yet acknowledged"</dt>
                        <dd data-testid="ingest-pending">{or_dash(i.pending)}</dd>
                    </div>
                </dl>
            </section>
        }
    });
    view! {
        <div class="findings">
            <section class="panel" aria-labelledby="now-h">
                <h2 id="now-h">"Now"</h2>
                <dl class="figures">
                    <Figure
                        label="Active"
                        value=o.active.to_string()
                        href=list(&[("status", Some("active"))])
                        id="active"
                    />
                    <Figure
                        label="Paused"
                        value=o.paused.to_string()
                        href=list(&[("status", Some("paused"))])
                        id="paused"
                    />
                    <Figure
                        label="Waiting for Billie's reply"
                        value=o.waiting.to_string()
                        href=list(&[("waiting", Some("1"))])
                        id="waiting"
                    />
                    <div>
                        <dt>"Longest wait"</dt>
                        <dd data-testid="longest-wait">
                            {match (longest, longest_href) {
                                (Some(since), Some(href)) => {
                                    view! {
                                        <a href=href>
                                            {move || span(Clock::now().max(read_at) - since)}
                                        </a>
                                    }
                                        .into_any()
                                }
                                _ => "–".into_any(),
                            }}
                        </dd>
                    </div>
                </dl>
            </section>
            <section class="panel" aria-labelledby="today-h">
                <h2 id="today-h">"Decisions today"</h2>
                <dl class="figures">
                    <Figure
                        label="Decided"
                        value=o.decided_today().to_string()
                        href=decided(None)
                        id="decided"
                    />
                    <Figure
                        label="Approved"
                        value=o.approved_today.to_string()
                        href=decided(Some("approved"))
                        id="approved"
                    />
                    <Figure
                        label="Declined"
                        value=o.declined_today.to_string()
                        href=decided(Some("declined"))
                        id="declined"
                    />
                    <Figure
                        label="Referred"
                        value=o.referred_today.to_string()
                        href=decided(Some("referred"))
                        id="referred"
                    />
                    <Figure
                        label="Approval rate"
                        value=rate
                        href=decided(Some("approved"))
                        id="approval-rate"
                    />
                    <Figure
                        label="Median time to decision"
                        value=median
                        href=decided(None)
                        id="median-decision"
                    />
                </dl>
            </section>
        </div>
        <Chart hours=o.hours.clone() offset_minutes=o.offset_minutes />
        <Queue
            queue=o.queue.clone()
            total=o.queue_total
            alert_ms=o.wait_alert_ms
            read_at=o.now_ms
        />
        {ingest}
    }
}

/// One figure: what it counts, and the number linking to the list of it.
#[component]
fn Figure(label: &'static str, value: String, href: String, id: &'static str) -> impl IntoView {
    view! {
        <div>
            <dt>{label}</dt>
            <dd>
                <a href=href data-testid=format!("figure-{id}")>
                    {value}
                </a>
            </dd>
        </div>
    }
}

const CHART_W: i64 = 720;
const CHART_H: i64 = 160;
const BAR_AREA: i64 = 130;

/// The last 24 hours as bars, two per hour (started, decided), with the hours labelled
/// every three; a table says the same for screen readers.
#[component]
fn Chart(hours: Vec<HourBar>, offset_minutes: i32) -> impl IntoView {
    let top = hours
        .iter()
        .map(|h| h.started.max(h.decided))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = CHART_W / 24;
    let height = |n: i64| n * BAR_AREA / top;
    let label = |start_ms: i64| {
        let local = (start_ms + i64::from(offset_minutes) * 60_000).rem_euclid(86_400_000);
        format!("{:02}:00", local / 3_600_000)
    };
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let x = i as i64 * slot;
            let (s, d) = (height(h.started), height(h.decided));
            let tick = (i % 3 == 0).then(|| {
                view! {
                    <text x=x + 2 y=CHART_H - 4 class="tick">
                        {label(h.start_ms)}
                    </text>
                }
            });
            view! {
                <g>
                    <rect class="bar-started" x=x + 3 y=BAR_AREA - s width=slot / 2 - 3 height=s />
                    <rect class="bar-decided" x=x + slot / 2 y=BAR_AREA - d width=slot / 2 - 3 height=d />
                    {tick}
                </g>
            }
        })
        .collect::<Vec<_>>();
    let rows = hours
        .iter()
        .map(|h| {
            view! {
                <tr>
                    <th scope="row">{label(h.start_ms)}</th>
                    <td>{h.started}</td>
                    <td>{h.decided}</td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    let (started, decided): (i64, i64) = hours
        .iter()
        .fold((0, 0), |(s, d), h| (s + h.started, d + h.decided));
    view! {
        <section class="panel chart" aria-labelledby="chart-h">
            <h2 id="chart-h">"Last 24 hours"</h2>
            <p class="legend" aria-hidden="true">
                <span class="key key-started"></span>
                {format!("Started ({started})")}
                <span class="key key-decided"></span>
                {format!("Decided ({decided})")}
            </p>
            <svg
                viewBox=format!("0 0 {CHART_W} {CHART_H}")
                role="img"
                aria-label=format!(
                    "Conversations started and decisions made per hour over the last 24 hours: {started} started, {decided} decided. The table below has each hour.",
                )
                data-testid="hours-chart"
            >
                <line class="axis" x1="0" y1=BAR_AREA x2=CHART_W y2=BAR_AREA />
                {bars}
            </svg>
            <table class="visually-hidden" data-testid="hours-table">
                <caption>"Conversations started and decisions made per hour, your time"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Hour"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Decided"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// The attention queue's first conversations, with their reasons, as of the page's clock
/// or the reading (`read_at`), whichever is later: the figures are read again the moment
/// a wait alerts, before the clock's next tick.
#[component]
fn Queue(
    queue: Vec<ConversationSummary>,
    total: i64,
    alert_ms: i64,
    read_at: i64,
) -> impl IntoView {
    let now = move || Clock::now().max(read_at);
    let empty = queue.is_empty();
    let items = queue
        .into_iter()
        .map(|c| {
            let href = format!("/conversations/{}", c.id);
            let name = c
                .customer_name
                .clone()
                .unwrap_or_else(|| "Unknown customer".to_owned());
            let application = c.application_number.clone().unwrap_or_default();
            let status = c.status;
            let waiting = attention::waiting_since(c.status, &c.signals);
            let id = c.id.clone();
            let reasons = Signal::derive(move || attention::reasons(&c, now(), alert_ms));
            view! {
                <li class="card queue-item" data-id=id>
                    <a href=href class="card-link">
                        <span class="name">{name}</span>
                        <span class="application">{application}</span>
                        <StatusBadge status />
                        <span class="flags">
                            <Chips reasons />
                        </span>
                        <span class="meta">
                            {move || {
                                waiting
                                    .map(|since| format!("waiting {}", span(now() - since)))
                            }}
                        </span>
                    </a>
                </li>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <section class="panel" aria-labelledby="queue-h">
            <h2 id="queue-h">
                "Needs attention "
                <a href=list(&[("attention", Some("1"))]) data-testid="figure-attention">
                    {total}
                </a>
            </h2>
            {if empty {
                view! { <p class="muted">"Nothing needs a human right now."</p> }.into_any()
            } else {
                view! {
                    <ul class="cards" data-testid="attention-queue">
                        {items}
                    </ul>
                }
                    .into_any()
            }}
        </section>
    }
}

/// The offset the page was rendered with: the cookie's, or UTC before the browser has
/// set it (the same on the server and in the browser, so hydration agrees).
fn rendered_offset() -> i32 {
    let cookies = cookies().unwrap_or_default();
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == ZONE_COOKIE)
        .and_then(|(_, v)| v.parse::<i32>().ok())
        .filter(|m| m.abs() <= 14 * 60)
        .unwrap_or(0)
}

#[cfg(feature = "ssr")]
fn cookies() -> Option<String> {
    let parts = use_context::<axum::http::request::Parts>()?;
    let all: Vec<&str> = parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(all.join("; "))
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn cookies() -> Option<String> {
    let document = web_sys::window()?.document()?;
    js_sys::Reflect::get(&document, &"cookie".into())
        .ok()?
        .as_string()
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn cookies() -> Option<String> {
    None
}

#[cfg(feature = "hydrate")]
fn browser_offset() -> i32 {
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

#[cfg(feature = "hydrate")]
fn remember_offset(offset: i32) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let cookie = format!("{ZONE_COOKIE}={offset}; path=/; max-age=31536000; samesite=lax");
    let _ = js_sys::Reflect::set(&document, &"cookie".into(), &cookie.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_a_supervisor_says_them() {
        assert_eq!(span(40_000), "40 s");
        assert_eq!(span(12 * 60_000 + 5_000), "12 min");
        assert_eq!(span(2 * 3_600_000 + 5 * 60_000), "2 h 5 min");
        assert_eq!(span(-5), "0 s");
    }
}
