//! The status tabs' counts without a search, kept by each web process from the live feed,
//! so that asking for them costs a lock and a copy rather than a pass over every
//! conversation (385 ms at 100,000 conversations; 927 ms with 100 lists asking at once).
//!
//! The tally holds each conversation's status and version. It loads them once from the
//! store, then applies every change the feed brings (ingest's and the status task's
//! alike), a change counting only if its version is newer than the one held, so a change
//! that raced the load is neither lost nor counted twice. When the feed may have lost
//! changes (a resubscription to Redis, this reader falling behind), it loads again;
//! until it has loaded, callers count in the store as before. A count with a search is
//! still the store's (an index range per word): the tally knows no words.
//!
//! Memory: one short key and two small numbers per conversation, about 10 MB at 100,000.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::api::{Status, StatusCounts};
use crate::server::feed::Hub;
use crate::server::store::{Store, StoreError};

/// The counts, shared by the web process's requests.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<RwLock<Option<Counted>>>);

/// Every conversation's status and version, and the counts they make.
#[derive(Debug, Default)]
pub struct Counted {
    known: HashMap<Box<str>, (Status, i64)>,
    counts: [i64; Status::ALL.len()],
}

fn slot(status: Status) -> usize {
    Status::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

impl Counted {
    /// Takes conversation `id` at `version` to be in `status`; an older or equal version
    /// than the one held changes nothing.
    pub fn apply(&mut self, id: &str, status: Status, version: i64) {
        match self.known.get_mut(id) {
            Some((_, at)) if *at >= version => {}
            Some((held, at)) => {
                self.counts[slot(*held)] -= 1;
                self.counts[slot(status)] += 1;
                *held = status;
                *at = version;
            }
            None => {
                self.counts[slot(status)] += 1;
                self.known.insert(id.into(), (status, version));
            }
        }
    }

    pub fn counts(&self) -> StatusCounts {
        StatusCounts {
            total: self.counts.iter().sum(),
            by_status: Status::ALL
                .into_iter()
                .map(|s| (s, self.counts[slot(s)]))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

impl Tally {
    /// The counts, if the tally has loaded and is following the feed.
    pub fn counts(&self) -> Option<StatusCounts> {
        self.0.read().ok()?.as_ref().map(Counted::counts)
    }

    fn set(&self, counted: Option<Counted>) {
        if let Ok(mut held) = self.0.write() {
            *held = counted;
        }
    }

    /// Follows `hub` for the life of the process, loading from `store` at the start and
    /// after any gap. While it loads again, the counts it had are served: they miss at
    /// most the changes of the gap.
    pub async fn follow(self, hub: Hub, store: Store) {
        let mut frames = hub.subscribe();
        loop {
            // Subscribed before the load: changes during it wait in the receiver.
            match load(&store).await {
                Ok(counted) => self.set(Some(counted)),
                Err(e) => {
                    tracing::warn!(error = %e, "status counts not loaded; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            }
            loop {
                let frame = match frames.recv().await {
                    Ok(frame) => frame,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                };
                if frame.is_resync() {
                    break;
                }
                // The states `Frame::of` read from the notice, once for the process. A
                // whole frame under one lock: readers see the feed's state between
                // frames, never half a frame.
                if !frame.states().is_empty()
                    && let Ok(mut held) = self.0.write()
                    && let Some(counted) = held.as_mut()
                {
                    for (id, status, version) in frame.states() {
                        counted.apply(id, *status, *version);
                    }
                }
            }
        }
    }
}

async fn load(store: &Store) -> Result<Counted, StoreError> {
    let mut counted = Counted::default();
    for (id, status, version) in store.all_statuses().await? {
        counted.apply(&id, status, version);
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_version_moves_a_conversation_between_counts_and_an_older_one_does_not() {
        let mut c = Counted::default();
        c.apply("a", Status::Active, 1);
        c.apply("b", Status::Active, 3);
        c.apply("a", Status::Paused, 2);
        c.apply("a", Status::Active, 2);
        c.apply("b", Status::Approved, 2);
        let counts = c.counts();
        assert_eq!(counts.total, 2);
        assert_eq!(counts.of(Status::Paused), 1);
        assert_eq!(counts.of(Status::Active), 1);
        assert_eq!(counts.of(Status::Approved), 0);
        c.apply("b", Status::Approved, 4);
        assert_eq!(c.counts().of(Status::Approved), 1);
        assert_eq!(c.counts().of(Status::Active), 0);
        assert_eq!(c.counts().total, 2);
    }
}
