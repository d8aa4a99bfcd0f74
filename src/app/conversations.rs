//! `/conversations`: every conversation, most recent activity first. A conversation with
//! new activity moves to the top as it happens; older ones load a page at a time.

use leptos::prelude::*;

use super::format;
use super::header::Header;
use super::live::{LiveFeed, Mark};
use crate::api::{ConversationPage, ConversationSummary, FeedFrame, list_conversations};

#[component]
pub fn ConversationsPage() -> impl IntoView {
    let feed = LiveFeed::get();
    let first_page = Resource::new(
        || (),
        move |_| {
            let mark = feed.mark();
            async move { (mark, list_conversations(None).await) }
        },
    );
    view! {
        <Header />
        <main class="page">
            <h1>"Conversations"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading conversations…"</p> }>
                {move || {
                    first_page
                        .get()
                        .map(|(mark, page)| match page {
                            Ok(page) => {
                                view! {
                                    <LiveList mark page refetch=move || first_page.refetch() />
                                }
                                    .into_any()
                            }
                            Err(e) => {
                                view! {
                                    <p class="error" role="alert">
                                        "Could not load conversations: "
                                        {e.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </main>
    }
}

/// The list, kept current by the live feed from `mark` on.
#[component]
fn LiveList(
    mark: Mark,
    page: ConversationPage,
    refetch: impl Fn() + Clone + 'static,
) -> impl IntoView {
    let items = RwSignal::new(page.items);
    let next = RwSignal::new(page.next);
    let loading = RwSignal::new(false);

    LiveFeed::get().follow(
        mark,
        move |frame| {
            if let FeedFrame::Change { conversation, .. } = frame {
                let more_below = next.with_untracked(Option::is_some);
                items.update(|items| place(items, conversation, more_below));
            }
        },
        refetch,
    );

    let load_more = move |_| {
        let Some(cursor) = next.get_untracked() else {
            return;
        };
        loading.set(true);
        leptos::task::spawn_local(async move {
            if let Ok(page) = list_conversations(Some(cursor)).await {
                items.update(|items| {
                    for item in page.items {
                        if !items.iter().any(|i| i.id == item.id) {
                            items.push(item);
                        }
                    }
                });
                next.set(page.next);
            }
            loading.set(false);
        });
    };

    view! {
        <Show
            when=move || items.with(|i| !i.is_empty())
            fallback=|| view! { <p class="muted">"No conversations yet."</p> }
        >
            <ul class="cards" data-testid="conversation-list">
                <For
                    each=move || items.get()
                    key=|c| (c.id.clone(), c.version)
                    children=move |c| view! { <Card conversation=c /> }
                />
            </ul>
        </Show>
        <Show when=move || next.with(Option::is_some)>
            <button class="more" on:click=load_more disabled=move || loading.get()>
                "Show older conversations"
            </button>
        </Show>
    }
}

/// Puts a changed conversation where the list's order (newest activity first) says: new
/// activity moves it to the top, a status change keeps its place. Stale changes are
/// ignored, and one that falls below the loaded pages waits for them.
fn place(items: &mut Vec<ConversationSummary>, changed: &ConversationSummary, more_below: bool) {
    if let Some(pos) = items.iter().position(|i| i.id == changed.id) {
        if items[pos].version >= changed.version {
            return;
        }
        items.remove(pos);
    }
    let key = |s: &ConversationSummary| (s.last_activity_ms, s.id.clone());
    let pos = items.partition_point(|i| key(i) > key(changed));
    if pos == items.len() && more_below {
        return;
    }
    items.insert(pos, changed.clone());
}

#[component]
fn Card(conversation: ConversationSummary) -> impl IntoView {
    let href = format!("/conversations/{}", conversation.id);
    let title = conversation
        .application_number
        .clone()
        .unwrap_or_else(|| "No application number".to_owned());
    let status_class = format!("status status-{}", conversation.status);
    view! {
        <li class="card conversation-card" data-id=conversation.id.clone()>
            <a href=href>
                <span class="title">{title}</span>
                <span class=status_class>{conversation.status.clone()}</span>
                <span class="meta">
                    {conversation.customer_id.clone().unwrap_or_else(|| "Unknown customer".into())}
                </span>
                <span class="meta">{messages(conversation.message_count)}</span>
                <span class="meta time">
                    {conversation.last_activity_ms.map(format::timestamp).unwrap_or_default()}
                </span>
            </a>
        </li>
    }
}

fn messages(count: i64) -> String {
    match count {
        1 => "1 message".to_owned(),
        n => format!("{n} messages"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, version: i64, last_activity: i64) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            application_number: None,
            customer_id: None,
            status: "active".into(),
            started_at_ms: None,
            last_activity_ms: Some(last_activity),
            message_count: 0,
            version,
        }
    }

    fn ids(items: &[ConversationSummary]) -> Vec<(&str, i64)> {
        items.iter().map(|i| (i.id.as_str(), i.version)).collect()
    }

    #[test]
    fn changes_take_their_place_in_activity_order() {
        let mut items = vec![
            summary("a", 1, 30),
            summary("b", 3, 20),
            summary("c", 1, 10),
        ];
        // New activity on b: to the top.
        place(&mut items, &summary("b", 4, 40), false);
        assert_eq!(ids(&items), [("b", 4), ("a", 1), ("c", 1)]);
        // A stale change is ignored.
        place(&mut items, &summary("a", 1, 50), false);
        assert_eq!(ids(&items), [("b", 4), ("a", 1), ("c", 1)]);
        // A status change (same activity) keeps the card's place.
        let mut paused = summary("a", 2, 30);
        paused.status = "paused".into();
        place(&mut items, &paused, false);
        assert_eq!(ids(&items), [("b", 4), ("a", 2), ("c", 1)]);
        assert_eq!(items[1].status, "paused");
        // A new conversation arrives at the top.
        place(&mut items, &summary("d", 1, 60), true);
        assert_eq!(items[0].id, "d");
        // One older than everything loaded waits for the next page.
        place(&mut items, &summary("e", 5, 1), true);
        assert_eq!(items.len(), 4);
        place(&mut items, &summary("e", 5, 1), false);
        assert_eq!(items.last().unwrap().id, "e");
    }
}
