//! The Leptos UI, shared by server rendering and the hydrated browser build. Pages read
//! the projections through [`crate::api`] and follow the live feed ([`live`]) so they
//! change in place as conversations happen. Every page is complete when rendered on the
//! server, so it reads without JavaScript; hydration adds the live feed, infinite scroll
//! and the keyboard.

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
    Lazy, LazyRoute, SsrMode,
    components::{Redirect, Route, Router, Routes},
    lazy_route, path,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::LiveFeed::provide();
    clock::Clock::provide();
    header::ProfileChanged::provide();
    keys::install();
    view! {
        <Stylesheet id="leptos" href="/pkg/billie-dashboard.css" />
        <Title text="Billie supervisor" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                <Route path=path!("/") view=|| view! { <Redirect path="/conversations" /> } />
                // In order: each part is sent once its data is there, so the page is
                // complete HTML (readable without JavaScript) rather than placeholders
                // swapped in by script.
                <Route
                    path=path!("/conversations")
                    view={Lazy::<ConversationsRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/conversations/:id")
                    view={Lazy::<ConversationRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/customers")
                    view={Lazy::<CustomersRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/customers/:id")
                    view={Lazy::<CustomerRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::InOrder />
                <Route
                    path=path!("/admin/users")
                    view={Lazy::<UsersRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/admin/audit")
                    view={Lazy::<AuditRoute>::new()}
                    ssr=SsrMode::InOrder
                />
            </Routes>
        </Router>
    }
}

/// Makes `$page` a lazy route: with `cargo leptos --split` (which `scripts/run`, `scripts/test`
/// and `scripts/bench` use) its code is a WASM module of its own, which the browser loads
/// when the page is first shown. The first load then carries the framework and the page
/// shown, not every page. A page rendered on the server names its module in a preload
/// link, so it loads beside the main one.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                $page().into_any()
            }
        }
    };
}

lazy_page!(LoginRoute, login::LoginPage);
lazy_page!(ConversationsRoute, conversations::ConversationsPage);
lazy_page!(ConversationRoute, conversation::ConversationPage);
lazy_page!(CustomersRoute, customers::CustomersPage);
lazy_page!(CustomerRoute, customer::CustomerPage);
lazy_page!(AccountRoute, account::AccountPage);
lazy_page!(UsersRoute, admin::UsersPage);
lazy_page!(AuditRoute, admin::AuditPage);

#[component]
fn NotFound() -> impl IntoView {
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
