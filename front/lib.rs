//! The browser build's entry point, `hydrate`, re-exported from the dashboard's library so
//! that it is linked in (see `Cargo.toml` for why this crate exists).

pub use billie_dashboard::hydrate;
