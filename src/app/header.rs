//! The bar on every signed-in page: navigation, whether updates are live, who is signed
//! in, and the way out. Rendering it starts the live feed.

use leptos::prelude::*;

use super::live::{LiveFeed, LiveState};
use crate::api::whoami;

#[component]
pub fn Header() -> impl IntoView {
    let feed = LiveFeed::get();
    Effect::new(move |_| feed.start());
    let user = Resource::new(|| (), |_| whoami());
    let badge = move || match feed.state.get() {
        LiveState::Connecting => ("badge live-connecting", "Connecting…"),
        LiveState::Live => ("badge live-on", "Live"),
        LiveState::Reconnecting => ("badge live-off", "Reconnecting…"),
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/conversations">
                "Billie "
                <span>"supervisor"</span>
            </a>
            <nav aria-label="Main">
                <a href="/conversations">"Conversations"</a>
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
                                <span class="who" title=me.role.clone()>
                                    {me.email}
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
