//! `/customers`: every customer the events have named, by name, with a search over name,
//! email address and customer id, loading more as the supervisor scrolls.

use leptos::prelude::*;

use super::format;
use super::header::Header;
use super::paging::{LoadMore, url};
use super::search::{ListQuery, SearchBox};
use crate::api::{CustomerPage, CustomerSummary, list_customers};

const PATH: &str = "/customers";

/// The route: the search and the page (`after`, for browsers without JavaScript) come
/// from the URL.
#[component]
pub fn CustomersRoute() -> impl IntoView {
    let [q, after] = super::query_params(["q", "after"]);
    view! { <CustomersPage q after /> }
}

#[island(lazy)]
fn CustomersPage(q: Option<String>, after: Option<String>) -> impl IntoView {
    super::page_context();
    let query = ListQuery::new(q, after);
    let ListQuery { search, after } = query;
    let list = Resource::new(
        move || (search.get(), after.get()),
        |(search, after)| async move { (search.clone(), list_customers(search, after).await) },
    );
    view! {
        <Header />
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
                    list.get()
                        .map(|(search, page)| match page {
                            Ok(page) => view! { <CustomerList search page /> }.into_any(),
                            Err(e) => {
                                view! {
                                    <p class="error" role="alert">
                                        "Could not load customers: "
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

#[component]
fn CustomerList(search: Option<String>, page: CustomerPage) -> impl IntoView {
    let items = RwSignal::new(page.items);
    let next = RwSignal::new(page.next);
    let loading = RwSignal::new(false);
    let search = StoredValue::new(search);
    let load = Callback::new(move |()| {
        let Some(cursor) = next.get_untracked() else {
            return;
        };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        leptos::task::spawn_local(async move {
            if let Ok(page) = list_customers(search.get_value(), Some(cursor)).await {
                items.update(|items| {
                    for customer in page.items {
                        if !items.iter().any(|i| i.id == customer.id) {
                            items.push(customer);
                        }
                    }
                });
                next.set(page.next);
            }
            loading.set(false);
        });
    });
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
            <a href=format!("{PATH}/{}", c.id) class="card-link">
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
