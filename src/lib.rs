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

/// Entry point of the browser build: hydrates the page's islands (see `app`) and starts
/// the keyboard. A page's island marks the body once it is interactive, so tests (and
/// curious humans) can tell; a page without one (sign-in) is marked at once.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    app::start();
}
