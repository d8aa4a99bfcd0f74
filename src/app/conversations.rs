//! `/conversations`: every conversation, most recent activity first, narrowed by a search
//! and a status tab (both kept in the URL). The list follows the live feed: a conversation
//! with new activity moves to the top, a changed card updates in place and flashes, and
//! the counts on the tabs follow. Older conversations load as the supervisor scrolls.

use std::collections::HashMap;

use leptos::prelude::*;

use super::clock::Clock;
use super::format;
use super::live::{LiveFeed, Mark};
use super::memory::{ListMemory, Place, list_key, restore_place};
use super::paging::{LoadMore, next_page, url};
use super::search::{ListQuery, SearchBox};
use crate::api::attention::{self, Reason};
use crate::api::{
    Among, ConversationFilter, ConversationPage, ConversationSummary, Status, StatusCounts,
    count_conversations, filter_among, list_conversations,
};

const PATH: &str = "/conversations";

/// The route: the search, the status tab and the page (`after`, for browsers without
/// JavaScript) come from the URL; the page is shown anew when a link changes them.
#[component]
pub fn ConversationsRoute() -> impl IntoView {
    move || {
        let [q, status, after, attention, waiting, decided_since] = super::query_params([
            "q",
            "status",
            "after",
            "attention",
            "waiting",
            "decided_since",
        ]);
        // One set at most (the server refuses more): the first given.
        let among = [
            ("attention", attention),
            ("waiting", waiting),
            ("decided_since", decided_since),
        ]
        .into_iter()
        .find_map(|(name, value)| value.map(|v| format!("{name}={v}")));
        view! { <ConversationsPage q status after among /> }
    }
}

#[component]
fn ConversationsPage(
    q: Option<String>,
    status: Option<String>,
    after: Option<String>,
    among: Option<String>,
) -> impl IntoView {
    let feed = LiveFeed::get();
    let set = filter_among(None, None, among.clone())
        .ok()
        .and_then(|f| f.among);
    let param = StoredValue::new(set.map(Among::param));
    let key = list_key(
        PATH,
        &[
            ("q", q.as_deref()),
            ("status", status.as_deref()),
            ("after", after.as_deref()),
            param_of(&set.map(Among::param)),
        ],
    );
    let among = StoredValue::new(among);
    // Back to this list: shown as it was left, without a fetch, until the search changes.
    let query = ListQuery::new(q, after);
    let (restored, restoring) = ListMemory::start_list::<ListState>(PATH, &key, query);
    let ListQuery { search, after } = query;
    let status = Signal::stored(status);
    let list = Resource::new(
        move || (restoring.get(), search.get(), status.get(), after.get()),
        move |(restoring, search, status, after)| {
            let mark = feed.mark();
            async move {
                if restoring {
                    return None;
                }
                let among = among.get_value();
                let filter = filter_among(search.clone(), status.clone(), among.clone());
                let start = after.clone();
                let page = list_conversations(search, status, after, among).await;
                Some((mark, filter.unwrap_or_default(), start, page))
            }
        },
    );
    let counts = Resource::new(
        move || search.get(),
        move |search| count_conversations(search, among.get_value()),
    );
    // A set changes as time passes too (a wait becomes an alert): read again as the
    // page's clock moves on.
    if set.is_some() {
        Effect::new(move |previous: Option<i64>| {
            let now = Clock::now();
            if previous.is_some() {
                list.refetch();
                counts.refetch();
            }
            now
        });
    }

    // The counts follow the feed too, refetched at most once a second however busy it is.
    let waiting = StoredValue::new(false);
    feed.follow(
        feed.mark(),
        move |_| {
            if !waiting.get_value() {
                waiting.set_value(true);
                set_timeout(
                    move || {
                        waiting.set_value(false);
                        counts.refetch();
                    },
                    std::time::Duration::from_secs(1),
                );
            }
        },
        move || counts.refetch(),
    );

    let tabs = move |counts: Option<StatusCounts>| {
        let set = param.get_value();
        view! { <Tabs search status counts set /> }
    };
    view! {
        <main class="page">
            <div class="list-head">
                <h1>
                    {match set {
                        Some(set) => set.label(),
                        None => "Conversations",
                    }}
                </h1>
                {set
                    .map(|_| {
                        view! {
                            <a class="all-link" href=PATH>
                                "All conversations"
                            </a>
                        }
                    })}
                <SearchBox
                    label="Search conversations"
                    placeholder="Application number or customer name"
                    path=PATH
                    keep=Signal::derive(move || ("status", status.get()))
                    query
                />
            </div>
            {set
                .map(|_| {
                    view! {
                        <p class="muted">
                            "Live: conversations enter and leave as events arrive and time passes."
                        </p>
                    }
                })}
            <Transition fallback=move || tabs(None)>
                {move || counts.get().map(|counts| tabs(counts.ok()))}
            </Transition>
            <Transition fallback=|| view! { <p class="muted">"Loading conversations…"</p> }>
                {move || {
                    if restoring.get() {
                        let kept = restored.try_update_value(Option::take).flatten()?;
                        restore_place(kept.scroll_y, kept.focused);
                        let start = kept.state;
                        let refetch = Callback::new(move |()| restoring.set(false));
                        return Some(view! { <LiveList start refetch /> }.into_any());
                    }
                    list.get()
                        .flatten()
                        .map(|(mark, filter, start, page)| match page {
                            Ok(page) => {
                                let start = ListState::new(mark, filter, start, page);
                                let refetch = Callback::new(move |()| list.refetch());
                                view! { <LiveList start refetch /> }
                                    .into_any()
                            }
                            Err(e) => super::load_failed("conversations", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

/// The status filter: "All" and one tab per status, each with how many match the search.
#[component]
fn Tabs(
    search: RwSignal<Option<String>>,
    status: Signal<Option<String>>,
    counts: Option<StatusCounts>,
    set: Option<(&'static str, String)>,
) -> impl IntoView {
    let set = StoredValue::new(set);
    let tab = move |value: Option<&'static str>, label: &'static str, n: Option<i64>| {
        let href = move || {
            let search = search.get();
            set.with_value(|set| {
                url(
                    PATH,
                    &[("q", search.as_deref()), ("status", value), param_of(set)],
                )
            })
        };
        let current = move || (status.get().as_deref() == value).then_some("page");
        view! {
            <a class="tab" href=href aria-current=current data-status=value.unwrap_or("all")>
                {label}
                {n.map(|n| view! { <span class="count">{n}</span> })}
            </a>
        }
    };
    let all = tab(None, "All", counts.as_ref().map(|c| c.total));
    let each = Status::ALL
        .into_iter()
        .map(|s| {
            tab(
                Some(s.as_str()),
                s.label(),
                counts.as_ref().map(|c| c.of(s)),
            )
        })
        .collect::<Vec<_>>();
    view! {
        <nav class="tabs" aria-label="Filter by status">
            {all}
            {each}
        </nav>
    }
}

/// A card in the list, and whether it arrived from the live feed (it flashes).
#[derive(Debug, Clone, PartialEq)]
struct Item {
    conversation: ConversationSummary,
    fresh: bool,
}

/// What the list shows and how far it has followed the feed: what it starts from when
/// fetched, and what it keeps when left ([`ListMemory`]).
struct ListState {
    mark: Mark,
    filter: ConversationFilter,
    /// The page the list started from (`after` in its URL).
    start: Option<String>,
    items: Vec<Item>,
    /// The cursor of the next page, while there is one.
    next: Option<String>,
    /// Changes to conversations below the loaded pages, kept until their page arrives: the
    /// page may have been read before the change.
    below: Vec<ConversationSummary>,
    /// When a wait puts a conversation in the attention queue (ms).
    alert_ms: i64,
}

impl ListState {
    fn new(
        mark: Mark,
        filter: ConversationFilter,
        start: Option<String>,
        page: ConversationPage,
    ) -> Self {
        let items = page
            .items
            .into_iter()
            .map(|conversation| Item {
                conversation,
                fresh: false,
            })
            .collect();
        Self {
            mark,
            filter,
            start,
            items,
            next: page.next,
            below: Vec::new(),
            alert_ms: page.wait_alert_ms,
        }
    }

    /// The list's URL, as [`ListMemory`] knows it.
    fn key(&self) -> String {
        list_key(
            PATH,
            &[
                ("q", self.filter.search.as_deref()),
                ("status", self.filter.status.map(Status::as_str)),
                ("after", self.start.as_deref()),
                param_of(&self.filter.among.map(Among::param)),
            ],
        )
    }
}

/// A set's URL parameter as [`url`] takes it (a nameless, empty one when there is none).
fn param_of<'a>(param: &'a Option<(&'static str, String)>) -> (&'static str, Option<&'a str>) {
    match param {
        Some((name, value)) => (name, Some(value.as_str())),
        None => ("", None),
    }
}

/// When a wait puts a conversation in the attention queue, for the cards' chips.
#[derive(Clone, Copy)]
struct AlertAfter(i64);

/// The list, kept current by the live feed from `start.mark` on, and kept when left.
/// `refetch` is a `Callback`, not a generic closure: the list is shown from two places
/// (fetched, restored), and one copy of its code is what the browser downloads.
#[component]
fn LiveList(start: ListState, refetch: Callback<()>) -> impl IntoView {
    let ListState {
        mark,
        filter,
        start,
        items,
        next,
        below,
        alert_ms,
    } = start;
    provide_context(AlertAfter(alert_ms));
    let items = RwSignal::new(items);
    // Where each conversation is in the list, for its card to find itself once per change.
    let positions = Memo::new(move |_| {
        items.with(|items| {
            items
                .iter()
                .enumerate()
                .map(|(at, i)| (i.conversation.id.clone(), at))
                .collect::<HashMap<_, _>>()
        })
    });
    let next = RwSignal::new(next);
    let loading = RwSignal::new(false);
    let filter = StoredValue::new(filter);
    let below = StoredValue::new(below);

    let seen = LiveFeed::get().follow(
        mark,
        move |change| {
            let conversation = &change.conversation;
            let more_below = next.with_untracked(Option::is_some);
            let now = Clock::now_untracked();
            let belongs = filter.with_value(|f| f.matches_at(conversation, now, alert_ms));
            let placed = items
                .try_update(|items| place(items, conversation, belongs, more_below))
                .unwrap_or(true);
            if !placed {
                below.update_value(|b| wait_below(b, conversation));
            }
        },
        move || refetch.run(()),
    );

    // Left (for a conversation, say): kept as it is now, for Back.
    let place_now = Place::track(PATH);
    on_cleanup(move || {
        let (Some(mark), Some(mut items), Some(filter)) = (
            seen.try_get_value(),
            items.try_get_untracked(),
            filter.try_get_value(),
        ) else {
            return;
        };
        items.iter_mut().for_each(|i| i.fresh = false);
        let state = ListState {
            mark,
            filter,
            start: start.clone(),
            items,
            next: next.try_get_untracked().flatten(),
            below: below.try_get_value().unwrap_or_default(),
            alert_ms,
        };
        place_now.keep(PATH, state.key(), state);
    });

    let load = next_page(
        next,
        loading,
        move |cursor| {
            let (search, status, among) = filter.with_value(|f| {
                (
                    f.search.clone(),
                    f.status.map(|s| s.as_str().to_owned()),
                    f.among.map(|a| {
                        let (name, value) = a.param();
                        format!("{name}={value}")
                    }),
                )
            });
            list_conversations(search, status, Some(cursor), among)
        },
        move |page: ConversationPage| {
            items.update(|items| {
                for conversation in page.items {
                    if !items.iter().any(|i| i.conversation.id == conversation.id) {
                        items.push(Item {
                            conversation,
                            fresh: false,
                        });
                    }
                }
            });
            // Changes that waited for this page win over what it says; those further
            // down wait on.
            let more_below = page.next.is_some();
            let waiting = below.try_update_value(std::mem::take).unwrap_or_default();
            items.update(|items| {
                for changed in waiting {
                    let belongs = filter.with_value(|f| f.matches(&changed));
                    if !place(items, &changed, belongs, more_below) {
                        below.update_value(|b| wait_below(b, &changed));
                    }
                }
            });
            next.set(page.next);
        },
    );
    let next_href = Signal::derive(move || {
        next.get().map(|after| {
            filter.with_value(|f| {
                url(
                    PATH,
                    &[
                        ("q", f.search.as_deref()),
                        ("status", f.status.map(Status::as_str)),
                        ("after", Some(&after)),
                        param_of(&f.among.map(Among::param)),
                    ],
                )
            })
        })
    });

    view! {
        <Show
            when=move || items.with(|i| !i.is_empty())
            fallback=|| view! { <p class="muted">"No conversations match."</p> }
        >
            <ul class="cards" data-testid="conversation-list" data-nav-list="">
                <For
                    each=move || items.get()
                    key=|i| i.conversation.id.clone()
                    children=move |i| {
                        let id = i.conversation.id;
                        let item = Memo::new({
                            let id = id.clone();
                            move |_| {
                                let at = positions.with(|p| p.get(&id).copied())?;
                                items.with(|items| items.get(at).cloned())
                            }
                        });
                        view! { <Card id item /> }
                    }
                />
            </ul>
        </Show>
        <LoadMore
            href=next_href
            loading=loading.into()
            label="Show older conversations"
            load
        />
    }
}

/// Keeps `changed` until the page it belongs on arrives, in place of an older change of
/// the same conversation. (A few at a time: a list rather than a map, whose code the
/// browser would download.)
fn wait_below(below: &mut Vec<ConversationSummary>, changed: &ConversationSummary) {
    below.retain(|c| c.id != changed.id);
    below.push(changed.clone());
}

/// Puts a changed conversation where the list's order (newest activity first) says: new
/// activity moves it to the top, a status change keeps its place, one that no longer
/// matches the filter leaves. Stale changes are ignored, and one that falls below the
/// loaded pages waits for them (`false`: not placed yet).
fn place(
    items: &mut Vec<Item>,
    changed: &ConversationSummary,
    belongs: bool,
    more_below: bool,
) -> bool {
    if let Some(pos) = items.iter().position(|i| i.conversation.id == changed.id) {
        if items[pos].conversation.version >= changed.version {
            return true;
        }
        items.remove(pos);
    }
    if !belongs {
        return true;
    }
    let key = |s: &ConversationSummary| (s.last_activity_ms, s.id.clone());
    let pos = items.partition_point(|i| key(&i.conversation) > key(changed));
    if pos == items.len() && more_below {
        return false;
    }
    items.insert(
        pos,
        Item {
            conversation: changed.clone(),
            fresh: true,
        },
    );
    true
}

/// One card, kept in the page for as long as its conversation is in the list (the list is
/// keyed by conversation id), so the focus and the reader's place stay on it as it
/// changes. `item` is the conversation as the list has it now; a change re-renders what
/// it shows, and a change from the feed flashes the card.
#[component]
fn Card(id: String, item: Memo<Option<Item>>) -> impl IntoView {
    let href = format!("{PATH}/{id}");
    let read = move |f: fn(&ConversationSummary) -> String| {
        move || item.with(|i| i.as_ref().map(|i| f(&i.conversation)).unwrap_or_default())
    };
    let name = read(|c| {
        c.customer_name
            .clone()
            .unwrap_or_else(|| "Unknown customer".to_owned())
    });
    let application = read(|c| {
        c.application_number
            .clone()
            .unwrap_or_else(|| "No application yet".to_owned())
    });
    let loan = read(|c| match (c.loan_amount, c.loan_purpose.clone()) {
        (Some(amount), Some(purpose)) => format!("{} · {purpose}", format::money(amount)),
        (Some(amount), None) => format::money(amount),
        (None, Some(purpose)) => purpose,
        (None, None) => String::new(),
    });
    let messages = read(|c| format::count(c.message_count, "message", "messages"));
    let status =
        move || item.with(|i| i.as_ref().map_or(Status::Active, |i| i.conversation.status));
    let last = move || item.with(|i| i.as_ref().and_then(|i| i.conversation.last_activity_ms));
    let alert_ms = use_context::<AlertAfter>().map_or(i64::MAX, |a| a.0);
    let reasons = move || {
        let now = Clock::now();
        item.with(|i| {
            i.as_ref()
                .map(|i| attention::reasons(&i.conversation, now, alert_ms))
                .unwrap_or_default()
        })
    };
    view! {
        <li class="card conversation-card" data-id=id>
            // Drawn anew for each change from the feed, so that each one flashes.
            {move || {
                item.with(|i| {
                    i.as_ref()
                        .filter(|i| i.fresh)
                        .map(|i| {
                            view! {
                                <span
                                    class="flash"
                                    aria-hidden="true"
                                    data-version=i.conversation.version
                                ></span>
                            }
                        })
                })
            }}
            <a
                href=href
                class="card-link"
                on:pointerenter={|_| super::preload::<super::ConversationRoute>()}
                on:focus={|_| super::preload::<super::ConversationRoute>()}
            >
                <span class="lead">
                    <span class="name">{name}</span>
                    <Chips reasons=Signal::derive(reasons) />
                </span>
                <span class="application">{application}</span>
                {move || view! { <StatusBadge status=status() /> }}
                <span class="loan">{loan}</span>
                <span class="meta">{messages}</span>
                <time
                    class="meta time"
                    datetime=move || last().map(format::iso)
                    title=move || last().map(format::timestamp)
                >
                    {move || last().map(|t| format::ago(Clock::now(), t)).unwrap_or_default()}
                </time>
            </a>
        </li>
    }
}

/// Why a conversation needs a human, one chip per reason (the text says it).
#[component]
pub fn Chips(reasons: Signal<Vec<Reason>>) -> impl IntoView {
    move || {
        reasons
            .get()
            .into_iter()
            .map(|r| {
                view! {
                    <span class=format!("flag flag-{}", r.as_str()) data-reason=r.as_str()>
                        {r.label()}
                    </span>
                }
            })
            .collect::<Vec<_>>()
    }
}

/// A status as a labelled badge (the text says it; colour only repeats it).
#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    view! { <span class=format!("status status-{}", status.as_str())>{status.label()}</span> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, version: i64, last_activity: i64) -> ConversationSummary {
        ConversationSummary {
            last_activity_ms: Some(last_activity),
            version,
            ..ConversationSummary::example(id, Status::Active)
        }
    }

    fn ids(items: &[Item]) -> Vec<(&str, i64)> {
        items
            .iter()
            .map(|i| (i.conversation.id.as_str(), i.conversation.version))
            .collect()
    }

    fn item(c: ConversationSummary) -> Item {
        Item {
            conversation: c,
            fresh: false,
        }
    }

    #[test]
    fn changes_take_their_place_in_activity_order() {
        let mut items: Vec<Item> = [
            summary("a", 1, 30),
            summary("b", 3, 20),
            summary("c", 1, 10),
        ]
        .into_iter()
        .map(item)
        .collect();
        // New activity on b: to the top, flashing.
        place(&mut items, &summary("b", 4, 40), true, false);
        assert_eq!(ids(&items), [("b", 4), ("a", 1), ("c", 1)]);
        assert!(items[0].fresh && !items[1].fresh);
        // A stale change is ignored.
        place(&mut items, &summary("a", 1, 50), true, false);
        assert_eq!(ids(&items), [("b", 4), ("a", 1), ("c", 1)]);
        // A status change (same activity) keeps the card's place.
        let mut paused = summary("a", 2, 30);
        paused.status = Status::Paused;
        place(&mut items, &paused, true, false);
        assert_eq!(ids(&items), [("b", 4), ("a", 2), ("c", 1)]);
        assert_eq!(items[1].conversation.status, Status::Paused);
        // A new conversation arrives at the top.
        place(&mut items, &summary("d", 1, 60), true, true);
        assert_eq!(items[0].conversation.id, "d");
        // One older than everything loaded waits for the next page.
        assert!(!place(&mut items, &summary("e", 5, 1), true, true));
        assert_eq!(items.len(), 4);
        place(&mut items, &summary("e", 5, 1), true, false);
        assert_eq!(items.last().unwrap().conversation.id, "e");
        // One that stops matching the filter leaves the list.
        place(&mut items, &summary("c", 2, 10), false, false);
        assert!(!items.iter().any(|i| i.conversation.id == "c"));
    }
}
