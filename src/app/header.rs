//! The bar on every signed-in page: navigation, whether updates are live (and since when
//! they are not), who is signed in, and the way out. Rendering it starts the live feed.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use super::live::{LiveFeed, LiveState};
use crate::api::whoami;

#[component]
pub fn Header() -> impl IntoView {
    let feed = LiveFeed::get();
    Effect::new(move |_| feed.start());
    let user = Resource::new(|| (), |_| whoami());
    let badge = move || match feed.state.get() {
        LiveState::Connecting => ("badge live-connecting", "Connecting…".to_owned()),
        LiveState::Live => ("badge live-on", "Live".to_owned()),
        LiveState::Reconnecting { since: (h, m) } => (
            "badge live-off",
            format!("Reconnecting… stale since {h:02}:{m:02}"),
        ),
    };
    let path = use_location().pathname;
    let current = move |section: &'static str| {
        move || {
            path.with(|p| p == section || p.starts_with(&format!("{section}/")))
                .then_some("page")
        }
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/conversations">
                "Billie "
                <span>"supervisor"</span>
            </a>
            <nav aria-label="Main">
                <a href="/conversations" aria-current=current("/conversations")>
                    "Conversations"
                </a>
                <a href="/customers" aria-current=current("/customers")>
                    "Customers"
                </a>
            </nav>
            <span class=move || badge().0 role="status" data-testid="live-badge">
                {move || badge().1}
            </span>
            <Transition fallback=|| ()>
                {move || {
                    user.get()
                        .and_then(Result::ok)
                        .map(|me| {
                            view! {
                                <span class="who" title=format!("{} ({})", me.email, me.role)>
                                    <span class="avatar" aria-hidden="true">
                                        {me.initials()}
                                    </span>
                                    <span data-testid="who">{me.display_name()}</span>
                                </span>
                            }
                        })
                }}
            </Transition>
            <form method="post" action="/logout" class="logout">
                <button type="submit">"Sign out"</button>
            </form>
        </header>
    }
}
