//! Time-derived status (EVENTS.md §4). A conversation is `active` until it has had no
//! message for 3 minutes (`paused`), 20 minutes (`soft_end`) or 24 hours (`hard_end`); a
//! new message makes it `active` again; a final decision overrides all of these for good.
//! Time passes without events, so a periodic task moves conversations between these
//! bands and tells browsers, keeping a list filtered by status right.

use crate::api::Status;
use std::time::Duration;

use tokio::sync::watch;

use crate::api::Change;
use crate::server::feed::Publisher;
use crate::server::store::Store;

/// The silences after which a conversation's status changes.
#[derive(Debug, Clone, Copy)]
pub struct StatusRules {
    pub paused_after: Duration,
    pub soft_end_after: Duration,
    pub hard_end_after: Duration,
}

impl Default for StatusRules {
    fn default() -> Self {
        Self {
            paused_after: Duration::from_secs(3 * 60),
            soft_end_after: Duration::from_secs(20 * 60),
            hard_end_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl StatusRules {
    /// The status bands as (status, newest and oldest last-message time), for `now_ms`.
    pub fn bands(&self, now_ms: i64) -> [(Status, Option<i64>, Option<i64>); 4] {
        let ago = |d: Duration| now_ms - d.as_millis() as i64;
        let (paused, soft, hard) = (
            ago(self.paused_after),
            ago(self.soft_end_after),
            ago(self.hard_end_after),
        );
        [
            (Status::Active, None, Some(paused)),
            (Status::Paused, Some(paused), Some(soft)),
            (Status::SoftEnd, Some(soft), Some(hard)),
            (Status::HardEnd, Some(hard), None),
        ]
    }
}

/// Every `tick`, brings each undecided conversation's status in line with the time since
/// its last message and publishes a change for each one that moved. Stops with `shutdown`.
pub async fn run(
    store: Store,
    publisher: Publisher,
    rules: StatusRules,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now_ms = mongodb::bson::DateTime::now().timestamp_millis();
        match store.refresh_statuses(&rules, now_ms).await {
            Ok(changed) => {
                let changes = changed
                    .into_iter()
                    .map(|conversation| Change {
                        conversation,
                        message: None,
                    })
                    .collect();
                if let Err(e) = publisher.publish(changes).await {
                    tracing::warn!(error = %e, "status changes not published");
                }
            }
            Err(e) => tracing::warn!(error = %e, "status refresh failed; retrying next tick"),
        }
    }
}
