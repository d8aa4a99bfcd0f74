//! Billie's realtime supervisor dashboard.
//!
//! The layout follows the data: [`contract`] parses ledger entries, [`server`] ingests
//! them into projections and feeds changes live, [`api`] is what the browser may ask, and
//! [`app`] is the Leptos UI, rendered on the server and hydrated in the browser.

#![recursion_limit = "256"]
// Input never panics the server: errors are values a user can read. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod backoff;
pub mod contract;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the browser build: hydrates the server-rendered page and marks the
/// body (`data-hydrated`) so tests (and curious humans) can tell the app is interactive.
/// Pages are lazy routes (see `app`), so hydration waits for the shown page's module.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        else {
            return;
        };
        let owner = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        owner.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
