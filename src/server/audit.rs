//! Recording which supervisor opened which conversation or customer. A view is recorded
//! once per user, thing and five minutes: the live page refetches what it shows on every
//! reconnect, and those refetches are not new looks.

use std::time::Duration;

use redis::AsyncCommands;

use crate::server::auth::{User, audit_entry, client_address};
use crate::server::state::AppState;

const ONCE_PER: Duration = Duration::from_secs(300);

pub async fn viewed(state: &AppState, user: &User, kind: &str, id: &str) {
    let key = format!("{}:viewed:{}:{kind}:{id}", state.ledger.stream, user.id);
    record_view(state, &key, &user.email, kind, id, client_address().await).await;
}

/// Records that `actor` viewed `kind` `id`, unless the view keyed `key` was recorded in
/// the last five minutes. Shared by supervisors' views and API reads.
pub async fn record_view(
    state: &AppState,
    key: &str,
    actor: &str,
    kind: &str,
    id: &str,
    address: Option<std::net::IpAddr>,
) {
    let mut redis = state.redis.clone();
    let first: Result<bool, _> = redis
        .set_options(
            key,
            1,
            redis::SetOptions::default()
                .conditional_set(redis::ExistenceCheck::NX)
                .with_expiration(redis::SetExpiry::EX(ONCE_PER.as_secs())),
        )
        .await;
    // If Redis cannot say, record the view: a duplicate beats a gap.
    if first.unwrap_or(true) {
        let entry = audit_entry(Some(actor), &format!("view.{kind}"), Some(id), address);
        state.store.audit(entry).await;
    }
}
