//! `/customers`: every customer the events have named, by name, with a search over name,
//! email address and customer id, loading more as the supervisor scrolls.

use leptos::prelude::*;

use super::format;
use super::memory::{ListMemory, Place, list_key, restore_place};
use super::paging::{LoadMore, next_page, url};
use super::search::{ListQuery, SearchBox};
use crate::api::{CustomerPage, CustomerSummary, list_customers};

const PATH: &str = "/customers";

/// The route: the search and the page (`after`, for browsers without JavaScript) come
/// from the URL; the page is shown anew when a link changes them.
#[component]
pub fn CustomersRoute() -> impl IntoView {
    move || {
        let [q, after] = super::query_params(["q", "after"]);
        view! { <CustomersPage q after /> }
    }
}

#[component]
fn CustomersPage(q: Option<String>, after: Option<String>) -> impl IntoView {
    let key = list_key(PATH, &[("q", q.as_deref()), ("after", after.as_deref())]);
    // Back to this list: shown as it was left, without a fetch, until the search changes.
    let query = ListQuery::new(q, after);
    let (restored, restoring) = ListMemory::start_list::<ListState>(PATH, &key, query);
    let ListQuery { search, after } = query;
    let list = Resource::new(
        move || (restoring.get(), search.get(), after.get()),
        |(restoring, search, after)| async move {
            if restoring {
                return None;
            }
            let start = after.clone();
            let page = list_customers(search.clone(), after).await;
            Some((search, start, page))
        },
    );
    view! {
        <main class="page">
            <div class="list-head">
                <h1>"Customers"</h1>
                <SearchBox
                    label="Search customers"
                    placeholder="Name, email or customer id"
                    path=PATH
                    query
                />
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading customers…"</p> }>
                {move || {
                    if restoring.get() {
                        let kept = restored.try_update_value(Option::take).flatten()?;
                        restore_place(kept.scroll_y, kept.focused);
                        let start = kept.state;
                        return Some(view! { <CustomerList start /> }.into_any());
                    }
                    list.get()
                        .flatten()
                        .map(|(search, start, page)| match page {
                            Ok(page) => {
                                let start = ListState {
                                    search,
                                    start,
                                    items: page.items,
                                    next: page.next,
                                };
                                view! { <CustomerList start /> }.into_any()
                            }
                            Err(e) => super::load_failed("customers", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

/// What the list shows: what it starts from when fetched, and what it keeps when left
/// ([`ListMemory`]).
struct ListState {
    search: Option<String>,
    /// The page the list started from (`after` in its URL).
    start: Option<String>,
    items: Vec<CustomerSummary>,
    /// The cursor of the next page, while there is one.
    next: Option<String>,
}

impl ListState {
    /// The list's URL, as [`ListMemory`] knows it.
    fn key(&self) -> String {
        list_key(
            PATH,
            &[
                ("q", self.search.as_deref()),
                ("after", self.start.as_deref()),
            ],
        )
    }
}

#[component]
fn CustomerList(start: ListState) -> impl IntoView {
    let ListState {
        search,
        start,
        items,
        next,
    } = start;
    let items = RwSignal::new(items);
    let next = RwSignal::new(next);
    let loading = RwSignal::new(false);
    let search = StoredValue::new(search);
    // Left (for a customer, say): kept as it is now, for Back.
    let place_now = Place::track(PATH);
    on_cleanup(move || {
        let (Some(search), Some(items)) = (search.try_get_value(), items.try_get_untracked())
        else {
            return;
        };
        let state = ListState {
            search,
            start: start.clone(),
            items,
            next: next.try_get_untracked().flatten(),
        };
        place_now.keep(PATH, state.key(), state);
    });
    let load = next_page(
        next,
        loading,
        move |cursor| list_customers(search.get_value(), Some(cursor)),
        move |page: CustomerPage| {
            items.update(|items| {
                for customer in page.items {
                    if !items.iter().any(|i| i.id == customer.id) {
                        items.push(customer);
                    }
                }
            });
            next.set(page.next);
        },
    );
    let next_href = Signal::derive(move || {
        next.get().map(|after| {
            search.with_value(|q| url(PATH, &[("q", q.as_deref()), ("after", Some(&after))]))
        })
    });
    view! {
        <Show
            when=move || items.with(|i| !i.is_empty())
            fallback=|| view! { <p class="muted">"No customers match."</p> }
        >
            <ul class="cards" data-testid="customer-list" data-nav-list="">
                <For
                    each=move || items.get()
                    key=|c| c.id.clone()
                    children=|c| view! { <CustomerCard customer=c /> }
                />
            </ul>
        </Show>
        <LoadMore href=next_href loading=loading.into() label="Show more customers" load />
    }
}

#[component]
fn CustomerCard(customer: CustomerSummary) -> impl IntoView {
    let c = customer;
    view! {
        <li class="card customer-card" data-id=c.id.clone()>
            <a
                href=format!("{PATH}/{}", c.id)
                class="card-link"
                on:pointerenter={|_| super::preload::<super::CustomerRoute>()}
                on:focus={|_| super::preload::<super::CustomerRoute>()}
            >
                <span class="name">{c.name.unwrap_or_else(|| "Unnamed customer".to_owned())}</span>
                <span class="meta">{c.email_address.unwrap_or_default()}</span>
                <span class="meta mono">{c.id.clone()}</span>
                <span class="meta">
                    {format::count(c.conversation_count, "conversation", "conversations")}
                </span>
            </a>
        </li>
    }
}
