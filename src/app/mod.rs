//! The Leptos UI, shared by server rendering and the hydrated browser build. Pages read
//! the projections through [`crate::api`] and follow the live feed ([`live`]) so they
//! change in place as conversations happen. Every page is complete when rendered on the
//! server, so it reads without JavaScript; hydration adds the live feed, infinite scroll
//! and the keyboard. Only what is interactive is hydrated: each page's body is a Leptos
//! island, and the browser downloads the code of the islands it shows and nothing else.

mod account;
mod admin;
mod clock;
mod conversation;
mod conversations;
mod customer;
mod customers;
mod format;
mod header;
mod html;
mod keys;
pub mod live;
mod login;
mod paging;
mod search;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Redirect, Route, Router, Routes},
    path,
};

/// What a query parameter's value keeps as it is: unreserved characters (RFC 3986).
pub const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::headers::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The pages, routed on the server. What a page does in the browser is one island (its
/// `…Page`); the route reads what the island needs from the URL and hands it over as
/// props. Each island but the list's is lazy: its code is a WASM module of its own,
/// loaded when the page is shown. Moving to another page loads it from the server.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/billie-dashboard.css" />
        <Title text="Billie supervisor" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=login::LoginPage />
                <Route path=path!("/login/mfa") view=login::MfaPage />
                <Route path=path!("/") view=|| view! { <Redirect path="/conversations" /> } />
                // In order: each part is sent once its data is there, so the page is
                // complete HTML (readable without JavaScript) rather than placeholders
                // swapped in by script.
                <Route
                    path=path!("/conversations")
                    view=conversations::ConversationsRoute
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/conversations/:id")
                    view=conversation::ConversationRoute
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/customers")
                    view=customers::CustomersRoute
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/customers/:id")
                    view=customer::CustomerRoute
                    ssr=SsrMode::InOrder
                />
                <Route path=path!("/account") view=account::AccountRoute ssr=SsrMode::InOrder />
                <Route path=path!("/admin/users") view=admin::UsersPage ssr=SsrMode::InOrder />
                <Route path=path!("/admin/audit") view=admin::AuditPage ssr=SsrMode::InOrder />
            </Routes>
        </Router>
    }
}

/// The non-empty values of the URL's query parameters `names`, for a route to hand to its
/// page's island.
fn query_params<const N: usize>(names: [&str; N]) -> [Option<String>; N] {
    let query = leptos_router::hooks::use_query_map();
    names.map(|name| query.with_untracked(|q| q.get(name).filter(|v| !v.is_empty())))
}

/// The route's path parameter `name` (empty when absent), for a route to hand to its
/// page's island.
fn path_param(name: &str) -> String {
    leptos_router::hooks::use_params_map().with_untracked(|p| p.get(name).unwrap_or_default())
}

/// What every page's island sets up first: the live feed, the clock and the profile
/// signal its views share, and the body's hydration mark once the island is interactive.
fn page_context() {
    live::LiveFeed::provide();
    clock::Clock::provide();
    header::ProfileChanged::provide();
    #[cfg(feature = "hydrate")]
    Effect::new(|_| mark_hydrated());
}

/// What the main module does on every page, before any lazy island's module has loaded:
/// the keyboard (it needs no island), and the hydration mark when the page has no island
/// to set it.
#[cfg(feature = "hydrate")]
pub fn start() {
    keys::install();
    let islands = document().query_selector("leptos-island").ok().flatten();
    if islands.is_none() {
        mark_hydrated();
    }
}

#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

#[island(lazy)]
fn NotFound() -> impl IntoView {
    page_context();
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <header::Header />
        <main class="page">
            <h1>"Page not found"</h1>
            <p>
                <a href="/conversations">"Back to the conversations"</a>
            </p>
        </main>
    }
}
