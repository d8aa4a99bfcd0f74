//! The bar on every signed-in page: navigation, whether updates are live (and since when
//! they are not), who is signed in, and the way out. Rendering it starts the live feed.

use leptos::prelude::*;

use super::live::{LiveFeed, LiveState};
use super::notify::{Notifier, Notify};
use crate::api::whoami;

/// Bumped when the signed-in user's profile changes, so the header shows it at once.
#[derive(Clone, Copy)]
pub struct ProfileChanged(pub RwSignal<usize>);

impl ProfileChanged {
    pub fn provide() {
        provide_context(Self(RwSignal::new(0)));
    }

    pub fn notify() {
        if let Some(Self(version)) = use_context::<Self>() {
            version.update(|v| *v += 1);
        }
    }
}

#[component]
pub fn Header() -> impl IntoView {
    let feed = LiveFeed::get();
    Effect::new(move |_| feed.start());
    let changed = use_context::<ProfileChanged>();
    let user = Resource::new(
        move || changed.map(|ProfileChanged(v)| v.get()),
        |_| whoami(),
    );
    // The signed-in account's choice of notifications applies once it is known.
    Effect::new(move |_| {
        if let (Some(Ok(me)), Some(notify)) = (user.get(), Notify::get()) {
            notify.signed_in(&me.email);
        }
    });
    let badge = move || match feed.state.get() {
        LiveState::Connecting => ("badge live-connecting", "Connecting…".to_owned()),
        LiveState::Live => ("badge live-on", "Live".to_owned()),
        LiveState::Reconnecting { since: (h, m) } => (
            "badge live-off",
            format!("Reconnecting… stale since {h:02}:{m:02}"),
        ),
    };
    let path = leptos_router::hooks::use_location().pathname;
    let current = move |section: &'static str| {
        move || {
            path.with(|p| p == section || p.starts_with(&format!("{section}/")))
                .then_some("page")
        }
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "Billie "
                <span>"supervisor"</span>
            </a>
            <nav aria-label="Main">
                <a href="/" aria-current=move || (path.with(|p| p == "/")).then_some("page")>
                    "Overview"
                </a>
                <a href="/conversations" aria-current=current("/conversations")>
                    "Conversations"
                </a>
                <a href="/customers" aria-current=current("/customers")>
                    "Customers"
                </a>
                <Transition fallback=|| ()>
                    {move || {
                        user.get()
                            .and_then(Result::ok)
                            .filter(|me| me.is_admin())
                            .map(|_| {
                                view! {
                                    <a href="/admin/users" aria-current=current("/admin/users")>
                                        "Users"
                                    </a>
                                    <a href="/admin/tokens" aria-current=current("/admin/tokens")>
                                        "API tokens"
                                    </a>
                                    <a href="/admin/audit" aria-current=current("/admin/audit")>
                                        "Audit log"
                                    </a>
                                }
                            })
                    }}
                </Transition>
            </nav>
            <span class=move || badge().0 role="status" data-testid="live-badge">
                {move || badge().1}
            </span>
            <Transition fallback=|| ()>
                {move || {
                    user.get()
                        .and_then(Result::ok)
                        .map(|me| {
                            let avatar = match me.avatar_url.clone() {
                                Some(url) => {
                                    view! { <img class="avatar" src=url alt="" /> }.into_any()
                                }
                                None => {
                                    view! {
                                        <span class="avatar" aria-hidden="true">
                                            {me.initials()}
                                        </span>
                                    }
                                        .into_any()
                                }
                            };
                            view! {
                                <a
                                    class="who"
                                    href="/account"
                                    title=format!("{} ({}): your account", me.email, me.role.as_str())
                                >
                                    {avatar}
                                    <span data-testid="who">{me.display_name()}</span>
                                </a>
                            }
                        })
                }}
            </Transition>
            // Signing out closes this page's live feed too: expected, not news.
            <form
                method="post"
                action="/logout"
                class="logout"
                on:submit=move |_| feed.expect_sign_out(true)
            >
                <button type="submit">"Sign out"</button>
            </form>
            <Notifier />
        </header>
    }
}
