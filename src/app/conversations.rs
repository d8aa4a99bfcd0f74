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
                items.update(|items| move_to_top(items, conversation));
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

/// Puts a changed conversation first, unless what is shown is already as new.
fn move_to_top(items: &mut Vec<ConversationSummary>, changed: &ConversationSummary) {
    if let Some(pos) = items.iter().position(|i| i.id == changed.id) {
        if items[pos].version >= changed.version {
            return;
        }
        items.remove(pos);
    }
    items.insert(0, changed.clone());
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

    fn summary(id: &str, version: i64) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            application_number: None,
            customer_id: None,
            status: "active".into(),
            started_at_ms: None,
            last_activity_ms: None,
            message_count: 0,
            version,
        }
    }

    #[test]
    fn newer_changes_move_to_the_top_and_stale_ones_are_ignored() {
        let mut items = vec![summary("a", 1), summary("b", 3)];
        move_to_top(&mut items, &summary("b", 4));
        assert_eq!(
            items
                .iter()
                .map(|i| (i.id.as_str(), i.version))
                .collect::<Vec<_>>(),
            [("b", 4), ("a", 1)]
        );
        move_to_top(&mut items, &summary("a", 1));
        assert_eq!(items[0].id, "b");
        move_to_top(&mut items, &summary("c", 1));
        assert_eq!(items[0].id, "c");
        assert_eq!(items.len(), 3);
    }
}
