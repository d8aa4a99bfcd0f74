//! `/conversations/:id`: one conversation as it happens: the transcript growing as the
//! customer and the assistant speak, and what the agents find (application, assessments,
//! noticeboard, decision) changing in place.

use std::sync::Arc;

use leptos::prelude::*;

use super::conversations::StatusBadge;
use super::events::Events;
use super::format;
use super::html;
use super::live::{LiveFeed, Mark};
use crate::api::{Change, ConversationDetail, Message, Speaker, Status, get_conversation};
use crate::contract::Summary;

/// The route: the conversation's id is the path's last part; another id shows its page
/// anew.
#[component]
pub fn ConversationRoute() -> impl IntoView {
    move || view! { <ConversationPage id=super::path_param("id") /> }
}

#[component]
fn ConversationPage(id: String) -> impl IntoView {
    let feed = LiveFeed::get();
    let shown = StoredValue::new(id);
    let id = move || shown.get_value();
    let detail = Resource::new(id, move |id| {
        // Before the fetch, so that the changes after its mark come with their messages.
        feed.watch(Some(id.clone()));
        let mark = feed.mark();
        async move { (mark, get_conversation(id).await) }
    });
    // A hydrated page fetched nothing: say what it shows. Leaving it, say it no more.
    Effect::new(move |_| feed.watch(Some(id())));
    on_cleanup(move || {
        if let Some(id) = shown.try_get_value() {
            feed.unwatch(&id);
        }
    });
    view! {
        <main class="page">
            <p>
                <a href="/conversations">"← All conversations"</a>
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading conversation…"</p> }>
                {move || {
                    detail
                        .get()
                        .map(|(mark, found)| match found {
                            Ok(Some(detail_now)) => {
                                view! {
                                    <LiveConversation
                                        mark
                                        detail=detail_now
                                        refetch=move || detail.refetch()
                                    />
                                }
                                    .into_any()
                            }
                            Ok(None) => {
                                view! {
                                    <h1>"Conversation not found"</h1>
                                    <p class="muted">
                                        "No conversation has this id (yet). It appears here as soon as its first event arrives."
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(e) => super::load_failed("the conversation", &e),
                        })
                }}
            </Transition>
            <Events id=shown.get_value() />
        </main>
    }
}

/// The conversation, kept current by the live feed from `mark` on. A new message that is
/// the next version is applied in place: the header's summary is replaced and the message
/// inserted where it belongs, one new element in the transcript, with nothing else drawn
/// again (an assessment left open stays open). Any other change (an assessment, a
/// decision…) or a gap refetches.
#[component]
fn LiveConversation(
    mark: Mark,
    mut detail: ConversationDetail,
    refetch: impl Fn() + Clone + 'static,
) -> impl IntoView {
    let id = detail.summary.id.clone();
    // Each message is shared, not copied, between the transcript and its view.
    let messages: Vec<Arc<Message>> = std::mem::take(&mut detail.messages)
        .into_iter()
        .map(Arc::new)
        .collect();
    let messages = RwSignal::new(messages);
    let summary = RwSignal::new(detail.summary.clone());
    let on_gap = refetch.clone();
    LiveFeed::get().follow(
        mark,
        move |change| {
            let Change {
                conversation,
                message,
            } = change;
            if conversation.id != id {
                return;
            }
            let version = summary.with_untracked(|s| s.version);
            if conversation.version <= version {
                return;
            }
            let Some(message) = message
                .as_ref()
                .filter(|_| conversation.version == version + 1)
            else {
                on_gap();
                return;
            };
            summary.set(conversation.clone());
            messages.update(|m| insert_in_order(m, Arc::new(message.clone())));
        },
        refetch,
    );

    let summary = move || summary.get();
    view! {
        <h1>
            {move || {
                summary().application_number.unwrap_or_else(|| "Conversation".to_owned())
            }}
        </h1>
        <dl class="facts">
            <dt>"Status"</dt>
            <dd data-testid="status">{move || view! { <StatusBadge status=summary().status /> }}</dd>
            <dt>"Customer"</dt>
            <dd data-testid="customer">
                {move || {
                    let s = summary();
                    let name = s.customer_name.clone();
                    match s.customer_id {
                        Some(id) => {
                            let label = name.unwrap_or_else(|| id.clone());
                            view! { <a href=format!("/customers/{id}")>{label}</a> }.into_any()
                        }
                        None => name.unwrap_or_else(|| "Unknown customer".into()).into_any(),
                    }
                }}
            </dd>
            <dt>"Started"</dt>
            <dd>{move || summary().started_at_ms.map(format::timestamp).unwrap_or_default()}</dd>
            <dt>"Messages"</dt>
            <dd data-testid="message-count">{move || summary().message_count}</dd>
        </dl>
        {findings(&detail)}
        <Transcript messages />
    }
}

/// The transcript, a `log` region that follows new messages, unless the reader has
/// scrolled up to read earlier ones. Messages are keyed by their event's identity, so a
/// new one is one insertion, wherever it belongs.
#[component]
fn Transcript(messages: RwSignal<Vec<Arc<Message>>>) -> impl IntoView {
    let log = NodeRef::<leptos::html::Section>::new();
    let pinned = StoredValue::new(true);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        messages.with(|_| ());
        if let Some(log) = log.get()
            && pinned.get_value()
        {
            log.set_scroll_top(log.scroll_height());
        }
    });
    let on_scroll = move |_| {
        if let Some(log) = log.get_untracked() {
            pinned.set_value(log.scroll_top() + log.client_height() >= log.scroll_height() - 40);
        }
    };
    view! {
        <h2 class="visually-hidden">"Transcript"</h2>
        <section
            class="transcript"
            role="log"
            aria-label="Transcript"
            tabindex="0"
            node_ref=log
            on:scroll=on_scroll
        >
            <Show
                when=move || messages.with(|m| !m.is_empty())
                fallback=|| view! { <p class="muted">"No messages yet."</p> }
            >
                <For
                    each=move || messages.get()
                    key=|m| m.id.clone()
                    children=|m| view! { <Bubble message=m /> }
                />
            </Show>
        </section>
    }
}

/// Decision, application, assessments and summary: what the agents have found so far.
fn findings(d: &ConversationDetail) -> impl IntoView + use<> {
    let decision = d.decision.map(|outcome| {
        let status = Status::from(outcome);
        let class = format!("decision status-{}", status.as_str());
        view! {
            <p class=class data-testid="decision">
                "Final decision: "
                <strong>{outcome.as_str()}</strong>
            </p>
        }
    });
    let money = |v: Option<f64>| v.map(format::money).unwrap_or_else(|| "—".into());
    let application = d.application.clone().map(|a| {
        view! {
            <section class="panel" aria-label="Application">
                <h2>"Application"</h2>
                <dl class="facts">
                    <dt>"Amount"</dt>
                    <dd data-testid="loan-amount">{money(a.loan_amount)}</dd>
                    <dt>"Purpose"</dt>
                    <dd data-testid="loan-purpose">{a.loan_purpose.unwrap_or_default()}</dd>
                    <dt>"Term"</dt>
                    <dd>{a.loan_term.map(|t| format!("{t} days")).unwrap_or_default()}</dd>
                    <dt>"Fee"</dt>
                    <dd>{money(a.loan_fee)}</dd>
                    <dt>"Total payable"</dt>
                    <dd>{money(a.loan_total_payable)}</dd>
                </dl>
            </section>
        }
    });
    let assessments = (!d.assessments.is_empty()).then(|| {
        let items = d
            .assessments
            .iter()
            .cloned()
            .map(|a| {
                let title = match a.kind.as_str() {
                    "identity_risk" => "Identity risk",
                    "serviceability" => "Serviceability",
                    _ => "Fraud check",
                };
                let chip = [
                    a.decision,
                    a.severity,
                    a.final_score.map(|s| format!("score {s}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
                view! {
                    <details class="assessment" data-kind=a.kind.clone()>
                        <summary>
                            <span class="title">{title}</span>
                            " "
                            <span class="chip">{chip}</span>
                        </summary>
                        <pre>{a.detail}</pre>
                    </details>
                }
            })
            .collect::<Vec<_>>();
        view! {
            <section class="panel" aria-label="Assessments">
                <h2>"Assessments"</h2>
                {items}
            </section>
        }
    });
    let recap = d
        .part::<Summary>("summary")
        .filter(|s| s.purpose.is_some() || !s.facts.is_empty())
        .map(|s| {
            let facts = s
                .facts
                .into_iter()
                .map(|f| view! { <li>{f}</li> })
                .collect::<Vec<_>>();
            view! {
                <section class="panel" aria-label="Summary">
                    <h2>"Summary"</h2>
                    <p>{s.purpose}</p>
                    <ul>{facts}</ul>
                </section>
            }
        });
    let board = (!d.noticeboard.is_empty()).then(|| {
        let entries = d
            .noticeboard
            .iter()
            .cloned()
            .map(|entry| {
                let (agent, topic) = entry
                    .agent_name
                    .split_once("::")
                    .map(|(a, t)| (a.to_owned(), t.to_owned()))
                    .unwrap_or_else(|| (String::new(), entry.agent_name.clone()));
                let mut versions = entry.versions;
                let current = versions.pop();
                let earlier = versions.len();
                let history = versions
                    .into_iter()
                    .rev()
                    .map(|v| {
                        view! {
                            <li>
                                <time>{format::clock(v.at_ms)}</time>
                                " "
                                {v.content}
                            </li>
                        }
                    })
                    .collect::<Vec<_>>();
                view! {
                    <article class="notice" data-agent=entry.agent_name.clone()>
                        <h3>{topic} " " <span class="chip">{agent}</span></h3>
                        <p class="current">{current.map(|v| v.content)}</p>
                        {(earlier > 0)
                            .then(|| {
                                view! {
                                    <details>
                                        <summary>{format!("{earlier} earlier version(s)")}</summary>
                                        <ol class="history">{history}</ol>
                                    </details>
                                }
                            })}
                    </article>
                }
            })
            .collect::<Vec<_>>();
        view! {
            <section class="panel" aria-label="Noticeboard">
                <h2>"Noticeboard"</h2>
                {entries}
            </section>
        }
    });
    view! { {decision} <div class="findings">{application} {assessments} {recap} {board}</div> }
}

/// Keeps the transcript ordered by (`seq`, time) when events arrive out of order.
/// Inserts `message` in transcript order (by `seq`, then time), unless it is there.
fn insert_in_order(messages: &mut Vec<Arc<Message>>, message: Arc<Message>) {
    if messages.iter().rev().any(|m| m.id == message.id) {
        return;
    }
    let key = (message.seq, message.at_ms);
    let pos = messages.partition_point(|m| (m.seq, m.at_ms) <= key);
    messages.insert(pos, message);
}

#[component]
fn Bubble(message: Arc<Message>) -> impl IntoView {
    let who = match message.speaker {
        Speaker::Customer => "Customer",
        Speaker::Assistant => "Billie",
    };
    let class = format!("bubble from-{}", message.speaker.as_str());
    view! {
        <article class=class>
            <header>
                <span class="who">{who}</span>
                <time datetime=format::iso(message.at_ms) title=format::timestamp(message.at_ms)>
                    {format::clock(message.at_ms)}
                </time>
            </header>
            // Rebuilt from an allow-list and escaped: markup from the stream never runs.
            <div class="text" inner_html=html::sanitize(&message.text)></div>
            {message
                .rationale
                .clone()
                .map(|r| view! { <p class="rationale">"Why: " {r}</p> })}
        </article>
    }
}
