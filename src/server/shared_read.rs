//! Reads that many callers ask for at once, made once for all of them.
//!
//! Why: while the feed is busy, every open conversation list asks for its tab counts
//! about once a second, and counting is the dearest read the dashboard makes (it groups
//! every matching conversation: 0.3–0.5 s at 100,000 on secantusd-rs). A hundred
//! supervisors would queue a hundred counts a second at the store, far more than it can
//! answer. Here callers asking for the same key share one read, but only a read that
//! *started after they asked*: nobody gets an answer older than their question, so a
//! list refreshed because of an event always counts that event. A caller that arrives
//! while a read is running waits for the next one, which starts as soon as that one ends
//! and answers everyone who arrived meanwhile. So the store runs at most one such read
//! per key at a time, however many callers there are, and an answer is never kept once
//! it has been handed out.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The read a caller waited for ended without an answer (its task panicked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the shared read ended without an answer")]
pub struct Abandoned;

/// One read at a time per key, shared by every caller that arrived before it started.
pub struct SharedRead<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

struct Slot<V> {
    state: Mutex<Rounds>,
    /// The last round's number and answer (`None`: it ended without one).
    done: watch::Sender<(u64, Option<V>)>,
}

/// Reads are numbered in the order they start, from 1.
#[derive(Default)]
struct Rounds {
    /// The newest read started.
    started: u64,
    running: bool,
    /// The newest read a caller is waiting for.
    wanted: u64,
}

impl<K, V> Default for SharedRead<K, V> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> SharedRead<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The answer of a `read` of `key` that starts after this call: the one it starts if
    /// none is running, else the next one, shared with every caller of the meantime.
    /// The read runs in a task of its own, so a caller that goes away abandons nobody.
    pub async fn get<F, Fut>(self: &Arc<Self>, key: K, read: F) -> Result<V, Abandoned>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let slot = lock(&self.slots)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    state: Mutex::new(Rounds::default()),
                    done: watch::Sender::new((0, None)),
                })
            })
            .clone();
        let mut answers = slot.done.subscribe();
        let round = {
            let mut rounds = lock(&slot.state);
            let round = rounds.started + 1;
            rounds.wanted = rounds.wanted.max(round);
            if !rounds.running {
                rounds.running = true;
                rounds.started = round;
                tokio::spawn(Arc::clone(self).run(key, Arc::clone(&slot), read));
            }
            round
        };
        let answer = answers
            .wait_for(|(done, _)| *done >= round)
            .await
            .map_err(|_| Abandoned)?;
        answer.1.clone().ok_or(Abandoned)
    }

    /// Runs rounds while callers wait for one, then forgets the key.
    async fn run<F, Fut>(self: Arc<Self>, key: K, slot: Arc<Slot<V>>, read: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = V>,
    {
        let mut round = lock(&slot.state).started;
        loop {
            let mut unanswered = Unanswered {
                slot: &slot,
                round: Some(round),
            };
            let value = read().await;
            unanswered.round = None;
            slot.done.send_replace((round, Some(value)));
            let mut rounds = lock(&slot.state);
            if rounds.wanted > round {
                round += 1;
                rounds.started = round;
            } else {
                rounds.running = false;
                break;
            }
        }
        let mut slots = lock(&self.slots);
        // A caller may have taken the slot since, and started a round of its own.
        if slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) && !lock(&slot.state).running {
            slots.remove(&key);
        }
    }

    /// How many keys have a read running or callers waiting.
    #[cfg(test)]
    fn keys(&self) -> usize {
        lock(&self.slots).len()
    }
}

/// If a round's read panics, answers with nothing its callers and those waiting for the
/// next round (whose read would never start), and lets the next caller start afresh.
struct Unanswered<'a, V> {
    slot: &'a Slot<V>,
    round: Option<u64>,
}

impl<V> Drop for Unanswered<'_, V> {
    fn drop(&mut self) {
        if self.round.is_some() {
            let mut rounds = lock(&self.slot.state);
            rounds.running = false;
            rounds.started = rounds.wanted;
            self.slot.done.send_replace((rounds.wanted, None));
        }
    }
}

/// The lock's data, even if a panicking holder poisoned it: its updates are a few
/// assignments that cannot panic, so it is never left half done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    /// A read whose calls are counted, which answers the value `source` held when it
    /// started, once `gate` lets it.
    #[derive(Clone)]
    struct Probe {
        calls: Arc<AtomicU64>,
        source: Arc<AtomicU64>,
        gate: Arc<Semaphore>,
    }

    impl Default for Probe {
        fn default() -> Self {
            Self {
                calls: Arc::default(),
                source: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
            }
        }
    }

    impl Probe {
        fn read(
            &self,
        ) -> impl Fn() -> futures::future::BoxFuture<'static, u64> + Send + Sync + use<> {
            let probe = self.clone();
            move || {
                let probe = probe.clone();
                Box::pin(async move {
                    probe.calls.fetch_add(1, Ordering::SeqCst);
                    let seen = probe.source.load(Ordering::SeqCst);
                    if let Ok(permit) = probe.gate.acquire().await {
                        permit.forget();
                    }
                    seen
                })
            }
        }
    }

    async fn until(mut done: impl FnMut() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    /// A caller of `read` for the key "all", in a task of its own.
    fn call<F, Fut>(
        shared: &Arc<SharedRead<&'static str, u64>>,
        read: F,
    ) -> tokio::task::JoinHandle<Result<u64, Abandoned>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = u64> + Send + 'static,
    {
        let shared = shared.clone();
        tokio::spawn(async move { shared.get("all", read).await })
    }

    /// Asserts that a new read of "all" runs and answers `value` (nothing is stuck).
    async fn reads_again(shared: &Arc<SharedRead<&'static str, u64>>, value: u64) {
        let probe = Probe::default();
        probe.source.store(value, Ordering::SeqCst);
        probe.gate.add_permits(1);
        assert_eq!(shared.get("all", probe.read()).await, Ok(value));
    }

    fn waiting<K: Eq + Hash, V>(shared: &SharedRead<K, V>, key: &K) -> usize {
        lock(&shared.slots)
            .get(key)
            .map_or(0, |slot| slot.done.receiver_count())
    }

    #[tokio::test]
    async fn callers_of_the_meantime_share_the_next_read() {
        let shared = Arc::new(SharedRead::<&str, u64>::default());
        let probe = Probe::default();
        probe.source.store(1, Ordering::SeqCst);
        let first = call(&shared, probe.read());
        until(|| probe.calls.load(Ordering::SeqCst) == 1).await;
        // The first read has started and sees 1; what follows is newer.
        probe.source.store(2, Ordering::SeqCst);
        let later: Vec<_> = (0..50).map(|_| call(&shared, probe.read())).collect();
        until(|| waiting(&shared, &"all") == 51).await;
        probe.gate.add_permits(1);
        assert_eq!(first.await.unwrap(), Ok(1));
        probe.gate.add_permits(1);
        for caller in later {
            assert_eq!(
                caller.await.unwrap(),
                Ok(2),
                "an answer older than its question"
            );
        }
        assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
        until(|| shared.keys() == 0).await;
    }

    #[tokio::test]
    async fn keys_are_read_apart() {
        let shared = Arc::new(SharedRead::<&str, u64>::default());
        let probe = Probe::default();
        probe.gate.add_permits(2);
        let (a, b) = tokio::join!(
            shared.get("smith", probe.read()),
            shared.get("jones", probe.read())
        );
        assert_eq!((a, b), (Ok(0), Ok(0)));
        assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_that_panics_answers_nothing_and_the_next_caller_reads_again() {
        let shared = Arc::new(SharedRead::<&str, u64>::default());
        let failed = shared
            .get("all", || async { panic!("the store's driver panicked") })
            .await;
        assert_eq!(failed, Err(Abandoned));
        reads_again(&shared, 7).await;
    }

    #[tokio::test]
    async fn when_a_read_panics_the_callers_waiting_for_the_next_one_are_answered_too() {
        let shared = Arc::new(SharedRead::<&str, u64>::default());
        let gate = Arc::new(Semaphore::new(0));
        let panicking = {
            let gate = gate.clone();
            move || {
                let gate = gate.clone();
                async move {
                    let _ = gate.acquire().await;
                    panic!("the store's driver panicked");
                }
            }
        };
        let first = call(&shared, panicking.clone());
        until(|| waiting(&shared, &"all") == 1).await;
        let next = call(&shared, panicking);
        until(|| waiting(&shared, &"all") == 2).await;
        gate.add_permits(1);
        assert_eq!(first.await.unwrap(), Err(Abandoned));
        assert_eq!(next.await.unwrap(), Err(Abandoned));
        reads_again(&shared, 3).await;
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_the_read_to_the_others() {
        let shared = Arc::new(SharedRead::<&str, u64>::default());
        let probe = Probe::default();
        let gone = call(&shared, probe.read());
        until(|| probe.calls.load(Ordering::SeqCst) == 1).await;
        let stays = call(&shared, probe.read());
        until(|| waiting(&shared, &"all") == 2).await;
        gone.abort();
        probe.gate.add_permits(2);
        assert_eq!(stays.await.unwrap(), Ok(0));
        assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
    }
}
