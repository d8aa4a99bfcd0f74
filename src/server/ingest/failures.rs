//! Failures of processing an entry, recorded in Redis so that every process of the group
//! sees them and a crash does not forget them.
//!
//! An entry goes to the dead-letter stream only after processing it has *failed*
//! `max_failures` times: the store refused its write. A process that dies holding an entry
//! (a crash loop during a backlog, `kill -9`, an evicted pod) is not a failure of the
//! entry, so Redis's own delivery count, which grows with every crash, is not used; nor is
//! a store that cannot be reached, which is a failure of the moment, retried without
//! counting (see `StoreError::is_refusal`).
//!
//! Each failing entry has a small hash `<stream>:failures:<entry id>` holding the count
//! and the last reason, kept for [`KEEP`] after its last failure, removed once the entry
//! is acknowledged. Entries that never fail cost nothing here: only the entries a consumer
//! re-reads (its own pending ones, after a crash, a failure or a claim) are looked up.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// How long a failure is remembered after the last one: long enough for any outage an
/// operator would sit through, short enough that stray records go away by themselves.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the failures of one entry have been so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub count: usize,
    /// Why the last attempt failed.
    pub reason: String,
}

/// The failure records of one stream.
#[derive(Debug, Clone)]
pub struct Failures {
    prefix: String,
}

impl Failures {
    pub fn new(stream: &str) -> Self {
        Self {
            prefix: format!("{stream}:failures:"),
        }
    }

    pub fn key(&self, entry_id: &str) -> String {
        format!("{}{entry_id}", self.prefix)
    }

    /// The failures recorded for each of `ids` that has any, in one round trip.
    pub async fn load(
        &self,
        redis: &mut ConnectionManager,
        ids: &[&str],
    ) -> redis::RedisResult<HashMap<String, Failure>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(self.key(id))
                .arg("count")
                .arg("reason");
        }
        let rows: Vec<(Option<usize>, Option<String>)> = pipe.query_async(redis).await?;
        Ok(ids
            .iter()
            .zip(rows)
            .filter_map(|(id, (count, reason))| {
                Some((
                    (*id).to_owned(),
                    Failure {
                        count: count?,
                        reason: reason.unwrap_or_default(),
                    },
                ))
            })
            .collect())
    }

    /// Records one more failure of `id`, and why; returns how many there have been.
    pub async fn record(
        &self,
        redis: &mut ConnectionManager,
        id: &str,
        reason: &str,
    ) -> redis::RedisResult<usize> {
        let key = self.key(id);
        let (count,): (usize,) = redis::pipe()
            .atomic()
            .hincr(&key, "count", 1)
            .hset(&key, "reason", reason)
            .ignore()
            .expire(&key, KEEP.as_secs() as i64)
            .ignore()
            .query_async(redis)
            .await?;
        Ok(count)
    }

    /// Forgets the failures of `ids` (acknowledged, or dead-lettered).
    pub async fn clear(
        &self,
        redis: &mut ConnectionManager,
        ids: &[&str],
    ) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        redis::cmd("DEL").arg(keys).query_async(redis).await
    }
}

/// Whether an entry that has failed `failure` so far goes to the dead-letter stream now,
/// and with what reason.
pub fn verdict(failure: Option<&Failure>, max_failures: usize) -> Option<String> {
    let failure = failure?;
    (failure.count >= max_failures).then(|| {
        format!(
            "not stored after {} failures: {}",
            failure.count, failure.reason
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(count: usize) -> Failure {
        Failure {
            count,
            reason: "store: write refused: bad".into(),
        }
    }

    #[test]
    fn an_entry_is_refused_only_once_it_has_failed_the_most_times() {
        assert_eq!(verdict(None, 5), None, "never failed");
        assert_eq!(verdict(Some(&failed(4)), 5), None);
        assert_eq!(
            verdict(Some(&failed(5)), 5).as_deref(),
            Some("not stored after 5 failures: store: write refused: bad")
        );
    }

    #[test]
    fn each_entry_has_a_key_of_its_own_under_the_stream() {
        let failures = Failures::new("chatLedger");
        assert_eq!(failures.key("17-3"), "chatLedger:failures:17-3");
    }
}
