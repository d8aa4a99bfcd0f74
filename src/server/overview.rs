//! The overview (`/`): the tally's figures of the moment, the first conversations of the
//! attention queue, and for admins what ingest is doing (dead letters of the last 24
//! hours, the consumer group's lag). Overviews asked for at the same time in the same zone
//! share one reading ([`SharedRead`]): each is a pass over every conversation the tally
//! holds, and 100 open overviews refetching at once made 100 passes on two cores.

use std::sync::Arc;

use crate::api::attention::{IngestHealth, Overview, QUEUE_SHOWN};
use crate::api::{Among, Role};
use crate::server::auth::User;
use crate::server::ingest::dead_letter;
use crate::server::metrics::group_backlog;
use crate::server::shared_read::SharedRead;
use crate::server::state::AppState;
use crate::server::tally::{TallyError, now_ms};

/// Overviews being read, by zone offset and whether ingest's health is in them.
pub type SharedOverviews = SharedRead<(i32, bool), Result<Overview, Arc<TallyError>>>;

/// The overview for `user`, the day and hours cut `offset_minutes` ahead of UTC, shared
/// with the overviews asked for meanwhile.
pub async fn overview(
    state: &AppState,
    user: &User,
    offset_minutes: i32,
) -> Result<Overview, Arc<TallyError>> {
    // No zone is more than 14 hours from UTC.
    let offset = offset_minutes.clamp(-14 * 60, 14 * 60);
    let admin = user.role == Role::Admin;
    let read = {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move { read(&state, offset, admin).await.map_err(Arc::new) }
        }
    };
    state
        .overviews
        .get((offset, admin), read)
        .await
        .map_err(|_| Arc::new(TallyError::Loading))?
}

async fn read(state: &AppState, offset: i32, admin: bool) -> Result<Overview, TallyError> {
    let now = now_ms();
    let alert = state.wait_alert_ms;
    let (mut overview, queue) = state
        .tally
        .read_loaded(|c| {
            (
                c.overview(now, offset, alert),
                c.pick(Among::Attention, None, now, alert),
            )
        })
        .await?;
    let ids: Vec<String> = queue
        .into_iter()
        .take(QUEUE_SHOWN)
        .map(|(_, id)| id)
        .collect();
    let mut summaries = state.store.summaries(&ids).await?;
    overview.queue = ids.iter().filter_map(|id| summaries.remove(id)).collect();
    if admin {
        overview.ingest = Some(ingest_health(state, now).await);
    }
    Ok(overview)
}

/// What Redis says of ingest; a figure Redis cannot give now is left out.
async fn ingest_health(state: &AppState, now: i64) -> IngestHealth {
    let mut redis = state.redis.clone();
    let (dead, backlog) = tokio::join!(
        dead_letter::count_last_day(&mut redis, &state.ledger.dead, now),
        group_backlog(&state.redis, &state.ledger),
    );
    let backlog = backlog
        .inspect_err(|e| tracing::warn!(error = %e, "consumer group not read"))
        .ok()
        .flatten();
    IngestHealth {
        dead_letters: dead
            .inspect_err(|e| tracing::warn!(error = %e, "dead-letter counts not read"))
            .ok(),
        lag: backlog.as_ref().and_then(|b| b.lag).map(|n| n as i64),
        pending: backlog.map(|b| b.pending as i64),
    }
}
