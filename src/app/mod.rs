//! The Leptos UI, shared by server rendering and the hydrated browser build. Pages read
//! the projections through [`crate::api`] and follow the live feed ([`live`]) so they
//! change in place as conversations happen. Every page is complete when rendered on the
//! server, so it reads without JavaScript; hydration adds the live feed, infinite scroll
//! and the keyboard. Once hydrated it is a single-page app: the router runs in the
//! browser, a link shows the next page without loading a document, one live feed serves
//! the whole visit, and a list left and returned to is as it was ([`memory`]). Each page
//! but the list is a lazy route: the browser downloads a page's code when it first shows it.

mod account;
mod admin;
mod clock;
mod conversation;
mod conversations;
mod customer;
mod customers;
mod events;
mod format;
mod header;
mod html;
mod keys;
pub mod live;
mod login;
mod memory;
mod notify;
mod overview;
mod paging;
mod search;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute, SsrMode,
    components::{Route, Router, Routes},
    lazy_route, path,
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
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The pages. The server renders whichever is asked for; in the browser the router shows
/// the next one in place. What the whole visit shares is set up here, once: the live feed,
/// the clock, the profile signal, the lists' memory and the keyboard.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::LiveFeed::provide();
    clock::Clock::provide();
    header::ProfileChanged::provide();
    memory::ListMemory::provide();
    notify::Notify::provide();
    #[cfg(feature = "hydrate")]
    keys::install();
    view! {
        <Stylesheet id="leptos" href="/pkg/billie-dashboard.css" />
        <Title text="Billie supervisor" />
        <Router>
            <TopBar />
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                <Route path=path!("/login/mfa") view={Lazy::<MfaRoute>::new()} />
                <Route
                    path=path!("/")
                    view={Lazy::<OverviewRoute>::new()}
                    ssr=SsrMode::InOrder
                />
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
                <Route
                    path=path!("/account")
                    view={Lazy::<AccountRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/admin/users")
                    view={Lazy::<UsersRoute>::new()}
                    ssr=SsrMode::InOrder
                />
                <Route
                    path=path!("/admin/tokens")
                    view={Lazy::<TokensRoute>::new()}
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

/// The bar on every page but sign-in ([`header::Header`]). It is outside the routes, so
/// it stays as the supervisor moves between pages, and its code is in the main module
/// rather than in each page's.
#[component]
fn TopBar() -> impl IntoView {
    let path = leptos_router::hooks::use_location().pathname;
    let shown = Memo::new(move |_| path.with(|p| !p.starts_with("/login")));
    view! {
        <Show when=move || shown.get()>
            <header::Header />
        </Show>
    }
}

/// Makes `$page` a lazy route: with `cargo leptos --split` (which the scripts use) its code
/// is a WASM module of its own, loaded when the page is first shown, so the first load
/// carries the framework and the page shown rather than every page. A page rendered on the
/// server names its module in a preload link, so it loads beside the main one. Every page
/// is lazy, the list too: with the list in the main module, the list loaded 301 KB and a
/// conversation, the account page and the users page 371–386 KB; with it lazy, the list
/// loads 353 KB and no other page more than 327 KB (BENCHMARKS.md, "The single-page app").
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
lazy_page!(MfaRoute, login::MfaPage);
lazy_page!(OverviewRoute, overview::OverviewPage);
lazy_page!(ConversationsRoute, conversations::ConversationsRoute);
lazy_page!(ConversationRoute, conversation::ConversationRoute);
lazy_page!(CustomersRoute, customers::CustomersRoute);
lazy_page!(CustomerRoute, customer::CustomerRoute);
lazy_page!(AccountRoute, account::AccountRoute);
lazy_page!(UsersRoute, admin::UsersPage);
lazy_page!(TokensRoute, admin::TokensPage);
lazy_page!(AuditRoute, admin::AuditPage);

/// Starts loading the code of the lazy page `R` (once; later calls find it loaded), when a
/// link to it is pointed at or focused: by the click it is there or on its way.
fn preload<R: LazyRoute>() {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(R::preload());
}

/// The non-empty values of the URL's query parameters `names`, tracked: a route reading
/// them shows its page again when they change (a status tab, a link with a search).
fn query_params<const N: usize>(names: [&str; N]) -> [Option<String>; N] {
    let query = leptos_router::hooks::use_query_map();
    names.map(|name| query.with(|q| q.get(name).filter(|v| !v.is_empty())))
}

/// The route's path parameter `name` (empty when absent), tracked like [`query_params`].
fn path_param(name: &str) -> String {
    leptos_router::hooks::use_params_map().with(|p| p.get(name).unwrap_or_default())
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page">
            <h1>"Page not found"</h1>
            <p>
                <a href="/conversations">"Back to the conversations"</a>
            </p>
        </main>
    }
}

/// What a page says when its data could not be loaded: what, and why in a sentence.
fn load_failed(what: &'static str, e: &ServerFnError) -> AnyView {
    view! { <p class="error" role="alert">"Could not load " {what} ": " {account::error_text(e)}</p> }
        .into_any()
}
