//! The conversation page's Events view: the conversation's timeline (every stream entry
//! that reached it, in arrival order, with what the projection made of it), so a
//! supervisor or an auditor sees what arrived when, duplicates and refusals included.
//! It loads when opened and follows the live feed while open: a change of the
//! conversation, or an entry that reached it without changing it, fetches its end again.

use leptos::lazy;
use leptos::prelude::*;

use super::format;
use super::live::LiveFeed;
use crate::api::{Arrival, conversation_timeline};

/// The folded view; its body, and its code, load when it is first opened (a separate
/// WASM module: most visits never open it).
#[component]
pub fn Events(id: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let details = NodeRef::<leptos::html::Details>::new();
    let on_toggle = move |_| {
        if let Some(d) = details.get_untracked() {
            open.set(d.open());
        }
    };
    let id = StoredValue::new(id);
    view! {
        <details class="panel events" node_ref=details on:toggle=on_toggle data-testid="events">
            <summary>
                <h2>"Events"</h2>
            </summary>
            <Suspense fallback=|| view! { <p class="muted">"Loading events…"</p> }>
                {move || {
                    open.get()
                        .then(|| {
                            let id = id.get_value();
                            Suspend::new(async move { events_body(id).await })
                        })
                }}
            </Suspense>
        </details>
    }
}

#[lazy]
fn events_body(id: String) -> AnyView {
    view! { <EventsBody id /> }.into_any()
}

/// The timeline, fetched and followed while the view is open.
#[component]
fn EventsBody(id: String) -> impl IntoView {
    let feed = LiveFeed::get();
    // Bumped when the timeline may have grown.
    let grew = RwSignal::new(0u64);
    let shown = StoredValue::new(id);
    feed.follow(
        feed.mark(),
        move |change| {
            if shown.with_value(|id| *id == change.conversation.id) {
                grew.update(|n| *n += 1);
            }
        },
        move || grew.update(|n| *n += 1),
    );
    Effect::new(move |_| {
        if shown.with_value(|id| feed.arrived(id)).is_some() {
            grew.update(|n| *n += 1);
        }
    });
    let timeline = LocalResource::new(move || {
        grew.track();
        conversation_timeline(shown.get_value())
    });
    // Rows stay in place between fetches: each is keyed by its entry.
    let rows = RwSignal::new(Vec::<Arrival>::new());
    let earlier = RwSignal::new(0i64);
    let loaded = RwSignal::new(false);
    let failed = RwSignal::new(None::<String>);
    Effect::new(move |_| match timeline.get() {
        Some(Ok(tail)) => {
            rows.set(tail.items);
            earlier.set(tail.earlier);
            loaded.set(true);
            failed.set(None);
        }
        Some(Err(e)) => failed.set(Some(super::account::error_text(&e))),
        None => {}
    });
    view! {
        {move || failed.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <Show when=move || { earlier.get() > 0 }>
            <p class="muted">
                {move || {
                    format!(
                        "{} earlier entries are not shown; GET /api/v1/conversations/{}/events has them all.",
                        earlier.get(),
                        shown.get_value(),
                    )
                }}
            </p>
        </Show>
        <Show
            when=move || rows.with(|r| !r.is_empty())
            fallback=move || {
                view! {
                    <p class="muted">
                        {move || if loaded.get() { "No entries yet." } else { "Loading events…" }}
                    </p>
                }
            }
        >
            <table class="table timeline">
                <caption class="visually-hidden">
                    "Every entry that reached this conversation, in arrival order"
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Arrived"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Seq"</th>
                        <th scope="col">"Agent"</th>
                        <th scope="col">"Event time"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Entry"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|a| a.entry_id.clone() children=row />
                </tbody>
            </table>
        </Show>
    }
}

fn row(a: Arrival) -> impl IntoView {
    let time = |ms: i64| {
        view! {
            <time datetime=format::iso(ms) title=format::timestamp(ms)>
                {format::clock(ms)}
            </time>
        }
    };
    let outcome = a.outcome;
    let class = format!("chip outcome-{}", outcome.as_str());
    let added = a.added_ms().map(time);
    let typ = if a.typ.is_empty() {
        "(none)".to_owned()
    } else {
        a.typ
    };
    let entry = a.entry_id.clone();
    view! {
        <tr data-entry=entry data-outcome=outcome.as_str()>
            <td>{added}</td>
            <td class="mono">{typ}</td>
            <td>{a.seq.map(|s| s.to_string()).unwrap_or_default()}</td>
            <td>{a.agent.unwrap_or_default()}</td>
            <td>{a.at_ms.map(time)}</td>
            <td>
                <span class=class>{outcome.label()}</span>
                {a.reason.map(|r| view! { <span class="reason">" " {r}</span> })}
            </td>
            <td class="mono">{a.entry_id}</td>
        </tr>
    }
}
