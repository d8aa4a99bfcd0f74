//! What every request handler and server function shares: the store, Redis, the live
//! feed's hub, the settings of authentication and the shared counts. Built once by
//! [`crate::server::startup`]; the modules that serve requests depend on this, not on
//! the wiring.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use tokio::sync::watch;

use crate::api::{ConversationFilter, StatusCounts};
use crate::server::api_v1::ApiSettings;
use crate::server::api_v1::changes::ChangeLog;
use crate::server::auth::AuthSettings;
use crate::server::feed::Hub;
use crate::server::metrics::Metrics;
use crate::server::shared_read::SharedRead;
use crate::server::store::{Store, StoreError};
use crate::server::tally::Tally;

/// Shared by every request handler and server function.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub hub: Hub,
    /// For readiness checks and the group's backlog in `/metrics`.
    pub redis: redis::aio::ConnectionManager,
    pub ledger: Ledger,
    pub metrics: Arc<Metrics>,
    /// Turns true when the process is asked to stop.
    pub shutdown: watch::Receiver<bool>,
    pub auth: Arc<AuthSettings>,
    /// The tab counts, one count at a time per search whatever the number of lists
    /// asking (see [`SharedRead`]).
    pub counts: Arc<SharedCounts>,
    /// `/api/v1`'s settings, and this process's reader of the change log.
    pub api: Arc<ApiSettings>,
    pub changes: ChangeLog,
    /// The status counts without a search, the attention queue and the overview's
    /// figures, kept from the live feed.
    pub tally: Tally,
    /// `WAIT_ALERT_SECS`, in ms: a customer waiting this long puts their conversation in
    /// the attention queue.
    pub wait_alert_ms: i64,
    /// The overviews being read (see `server::overview`).
    pub overviews: Arc<crate::server::overview::SharedOverviews>,
}

pub type SharedCounts = SharedRead<ConversationFilter, Result<StatusCounts, Arc<StoreError>>>;

/// The stream and group this deployment consumes.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub stream: String,
    pub group: String,
    /// Where refused entries go (see `ingest::dead_letter`).
    pub dead: String,
}
