//! `/customers/:id`: a customer's merged profile (name, contact, date of birth, addresses)
//! and their conversations, each linking to its live view. Live: a change of one of the
//! customer's conversations (a new one, a profile change it brought, a new name, a new
//! status) fetches the page again, at most once per turn of the event loop.

use leptos::prelude::*;

use super::clock::Clock;
use super::conversations::StatusBadge;
use super::format;
use super::live::LiveFeed;
use crate::api::{Change, CustomerProfile, get_customer};

/// The route: the customer's id is the path's last part; another id shows its page anew.
#[component]
pub fn CustomerRoute() -> impl IntoView {
    move || view! { <CustomerPage id=super::path_param("id") /> }
}

#[component]
fn CustomerPage(id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let id = move || id.get_value();
    let profile = Resource::new(id, get_customer);
    let pending = StoredValue::new(false);
    let refetch = move || {
        if !pending.get_value() {
            pending.set_value(true);
            queue_microtask(move || {
                pending.try_set_value(false);
                profile.refetch();
            });
        }
    };
    let feed = LiveFeed::get();
    feed.follow(
        feed.mark(),
        move |change: &Change| {
            let c = &change.conversation;
            let shown = profile.with_untracked(|p| match p {
                Some(Ok(Some(p))) => {
                    p.customer.conversations.contains(&c.id)
                        || p.conversations.iter().any(|known| known.id == c.id)
                }
                _ => false,
            });
            if shown || c.customer_id.as_deref() == Some(id().as_str()) {
                refetch();
            }
        },
        refetch,
    );
    view! {
        <main class="page">
            <p>
                <a href="/customers">"← All customers"</a>
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading customer…"</p> }>
                {move || {
                    profile
                        .get()
                        .map(|found| match found {
                            Ok(Some(profile)) => view! { <Profile profile /> }.into_any(),
                            Ok(None) => {
                                view! {
                                    <h1>"Customer not found"</h1>
                                    <p class="muted">"No event has named a customer with this id."</p>
                                }
                                    .into_any()
                            }
                            Err(e) => super::load_failed("the customer", &e),
                        })
                }}
            </Transition>
        </main>
    }
}

#[component]
fn Profile(profile: CustomerProfile) -> impl IntoView {
    let c = profile.customer;
    let name = c
        .full_name
        .clone()
        .unwrap_or_else(|| "Unnamed customer".to_owned());
    let row = |label: &'static str, value: Option<String>| {
        view! {
            <dt>{label}</dt>
            <dd>{value.unwrap_or_else(|| "—".to_owned())}</dd>
        }
    };
    let email = c.email_address.clone().map(|email| {
        view! { <a href=format!("mailto:{email}")>{email.clone()}</a> }
    });
    let conversations = profile
        .conversations
        .into_iter()
        .map(|conv| {
            let last = conv.last_activity_ms;
            view! {
                <li class="card profile-conversation" data-id=conv.id.clone()>
                    <a href=format!("/conversations/{}", conv.id) class="card-link">
                        <span class="application">
                            {conv.application_number.clone().unwrap_or_else(|| conv.id.clone())}
                        </span>
                        <StatusBadge status=conv.status />
                        <span class="loan">
                            {conv.loan_amount.map(format::money).unwrap_or_default()}
                        </span>
                        <span class="meta">
                            {format::count(conv.message_count, "message", "messages")}
                        </span>
                        <time class="meta time" datetime=last.map(format::iso) title=last.map(format::timestamp)>
                            {move || last.map(|t| format::ago(Clock::now(), t)).unwrap_or_default()}
                        </time>
                    </a>
                </li>
            }
        })
        .collect::<Vec<_>>();
    let has_conversations = !conversations.is_empty();
    view! {
        <h1 data-testid="customer-name">{name}</h1>
        <div class="findings">
            <section class="panel" aria-labelledby="profile-heading">
                <h2 id="profile-heading">"Profile"</h2>
                <dl class="facts">
                    {row("Customer id", Some(c.id.clone()))}
                    {row("Title", c.title.clone())}
                    {row("Preferred name", c.preferred_name.clone())}
                    {row("Date of birth", c.date_of_birth.clone())}
                </dl>
            </section>
            <section class="panel" aria-labelledby="contact-heading">
                <h2 id="contact-heading">"Contact"</h2>
                <dl class="facts">
                    <dt>"Email"</dt>
                    <dd data-testid="customer-email">{email}</dd>
                    {row("Mobile", c.mobile_phone_number.clone())}
                    {row("Address", c.residential_address.clone())}
                    {row("Mailing address", c.mailing_address.clone())}
                </dl>
            </section>
        </div>
        <h2>"Conversations"</h2>
        {if has_conversations {
            view! { <ul class="cards" data-nav-list="">{conversations}</ul> }.into_any()
        } else {
            view! { <p class="muted">"No conversations yet."</p> }.into_any()
        }}
    }
}
