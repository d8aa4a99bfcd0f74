//! Everything that runs only in the server process: configuration, the ledger consumer,
//! the projections and their store, the live feed and authentication. The browser build
//! never sees this module; the UI reaches it through the `#[server]` functions in
//! [`crate::api`].

pub mod account;
pub mod api_v1;
pub mod audit;
pub mod auth;
pub mod config;
pub mod errors;
pub mod feed;
pub mod headers;
pub mod ingest;
pub mod memory;
pub mod metrics;
pub mod overview;
pub mod projection;
pub mod shared_read;
pub mod startup;
pub mod state;
pub mod status;
pub mod store;
pub mod tally;
pub mod telemetry;
