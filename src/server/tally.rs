//! The status tabs' counts without a search, the attention queue and the overview's
//! figures, kept by each web process from the live feed, so that asking for them costs a
//! lock and a pass over memory rather than a pass over every conversation in the store
//! (the counts took 385 ms at 100,000 conversations; 927 ms with 100 lists asking at once).
//!
//! The tally holds each conversation's status, version, times and attention signals. It
//! loads them once from the store, then applies every change the feed brings (ingest's
//! and the status task's alike), a change counting only if its version is newer than the
//! one held, so a change that raced the load is neither lost nor counted twice. When the
//! feed may have lost changes (a resubscription to Redis, this reader falling behind), it
//! loads again; until it has loaded, callers ask the store as before. A count with a
//! search is still the store's (an index range per word): the tally knows no words.
//!
//! It also indexes the beginnings of words for search as you type: every word of each
//! conversation's application numbers and customer names, without accents, in a sorted
//! set, so a term is a range of it ("smi" runs from "smi" to the last word beginning
//! so). Kept here rather than in the store: an index of every beginning in the store,
//! keyed with the activity time the list is ordered by, halved ingest (BENCHMARKS.md).
//!
//! Memory: a short key and about 80 bytes per conversation, and about 50 bytes per word;
//! about 45 MB at 100,000 conversations.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::api::attention::{self, HourBar, Overview, Signals};
use crate::api::{
    Among, ConversationFilter, ConversationPage, ConversationSummary, Status, StatusCounts,
    search_terms,
};
use crate::server::feed::Hub;
use crate::server::store::{Store, StoreError, cursor_position};

/// The counts, shared by the web process's requests.
#[derive(Debug, Clone)]
pub struct Tally {
    held: Arc<RwLock<Option<Counted>>>,
    /// Turns true at the first load.
    loaded: tokio::sync::watch::Sender<bool>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            held: Arc::default(),
            loaded: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// Why the tally could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TallyError {
    #[error("the live figures are still loading: try again in a moment")]
    Loading,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a request waits for the first load (a web process just started).
const LOAD_WAIT: Duration = Duration::from_secs(10);

/// What the tally holds of one conversation.
#[derive(Debug, Clone)]
struct Record {
    status: Status,
    version: i64,
    started_at: Option<i64>,
    last_activity: Option<i64>,
    signals: Signals,
    /// A digest of the application number and customer name the words were indexed from:
    /// most changes (a message, a status) name the conversation as before, and skip the
    /// words.
    named: u64,
}

impl From<&ConversationSummary> for Record {
    fn from(s: &ConversationSummary) -> Self {
        Self {
            status: s.status,
            version: s.version,
            started_at: s.started_at_ms,
            last_activity: s.last_activity_ms,
            signals: s.signals.clone(),
            named: named(s),
        }
    }
}

fn named(s: &ConversationSummary) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&s.application_number, &s.customer_name).hash(&mut hasher);
    hasher.finish()
}

/// Every conversation's record, and the counts they make.
#[derive(Debug, Default)]
pub struct Counted {
    known: HashMap<Box<str>, Record>,
    counts: [i64; Status::ALL.len()],
    /// (word, conversation): the words of every application number and customer name a
    /// conversation has had since the load.
    words: BTreeSet<(Box<str>, Box<str>)>,
}

fn slot(status: Status) -> usize {
    Status::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

/// A conversation in the attention queue: its activity (the queue's order) and id.
pub type Queued = (Option<i64>, String);

impl Counted {
    /// Takes `s` as its conversation's state; an older or equal version than the one
    /// held changes nothing.
    pub fn apply(&mut self, s: &ConversationSummary) {
        let renamed = self
            .known
            .get(s.id.as_str())
            .is_none_or(|held| held.named != named(s));
        if renamed {
            for field in [&s.application_number, &s.customer_name]
                .into_iter()
                .flatten()
            {
                for word in search_terms(field) {
                    self.words.insert((word.into(), s.id.as_str().into()));
                }
            }
        }
        match self.known.get_mut(s.id.as_str()) {
            Some(held) if held.version >= s.version => {}
            Some(held) => {
                self.counts[slot(held.status)] -= 1;
                self.counts[slot(s.status)] += 1;
                *held = Record::from(s);
            }
            None => {
                self.counts[slot(s.status)] += 1;
                self.known.insert(s.id.as_str().into(), Record::from(s));
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

    /// The conversations of set `among` at `now_ms` (waits alert after `alert_ms`), in
    /// `status` if given: most recent activity first.
    pub fn pick(
        &self,
        among: Among,
        status: Option<Status>,
        now_ms: i64,
        alert_ms: i64,
    ) -> Vec<Queued> {
        let mut found: Vec<Queued> = self
            .known
            .iter()
            .filter(|(_, r)| {
                status.is_none_or(|s| s == r.status)
                    && among.holds_of(r.status, &r.signals, now_ms, alert_ms)
            })
            .map(|(id, r)| (r.last_activity, id.to_string()))
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found
    }

    /// The conversations with a word `term` begins (once per word).
    fn begun<'a>(&'a self, term: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let from = (Box::<str>::from(term), Box::<str>::from(""));
        self.words
            .range((Bound::Included(from), Bound::Unbounded))
            .take_while(move |(word, _)| word.starts_with(term))
            .map(|(_, id)| &**id)
    }

    /// The conversations each term of `search` begins a word of, in `status` if given,
    /// most recent activity first: (activity, id).
    pub fn search(&self, search: &str, status: Option<Status>) -> Vec<Queued> {
        // The term with the fewest words first: the set the others narrow is smallest.
        let mut terms: Vec<(usize, String)> = search_terms(search)
            .into_iter()
            .map(|t| (self.begun(&t).count(), t))
            .collect();
        terms.sort_unstable();
        let mut found: Option<HashSet<&str>> = None;
        for (_, term) in &terms {
            let begun: HashSet<&str> = self
                .begun(term)
                .filter(|id| found.as_ref().is_none_or(|f| f.contains(id)))
                .collect();
            found = Some(begun);
        }
        let mut rows: Vec<Queued> = found
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| {
                let r = self.known.get(id)?;
                status
                    .is_none_or(|s| s == r.status)
                    .then(|| (r.last_activity, id.to_owned()))
            })
            .collect();
        rows.sort_unstable_by(|a, b| b.cmp(a));
        rows
    }

    /// The conversations `filter` picks at `now_ms`: its set (all without one), its
    /// search, its status; most recent activity first.
    pub fn select(&self, filter: &ConversationFilter, now_ms: i64, alert_ms: i64) -> Vec<Queued> {
        let searched = filter
            .search
            .as_deref()
            .map(|q| self.search(q, filter.status));
        match (filter.among, searched) {
            (Some(among), None) => self.pick(among, filter.status, now_ms, alert_ms),
            (Some(among), Some(found)) => {
                let held: HashSet<String> = self
                    .pick(among, filter.status, now_ms, alert_ms)
                    .into_iter()
                    .map(|(_, id)| id)
                    .collect();
                found
                    .into_iter()
                    .filter(|(_, id)| held.contains(id))
                    .collect()
            }
            (None, Some(found)) => found,
            (None, None) => Vec::new(),
        }
    }

    /// How many conversations `filter` picks (its status aside), per status.
    pub fn select_counts(
        &self,
        filter: &ConversationFilter,
        now_ms: i64,
        alert_ms: i64,
    ) -> StatusCounts {
        let all = ConversationFilter {
            status: None,
            ..filter.clone()
        };
        let mut counts = [0_i64; Status::ALL.len()];
        for (_, id) in self.select(&all, now_ms, alert_ms) {
            if let Some(r) = self.known.get(id.as_str()) {
                counts[slot(r.status)] += 1;
            }
        }
        StatusCounts {
            total: counts.iter().sum(),
            by_status: Status::ALL
                .into_iter()
                .map(|s| (s, counts[slot(s)]))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }

    /// The overview's figures at `now_ms`, the day and hours cut `offset_minutes` ahead
    /// of UTC (the queue's conversations and ingest's health are the caller's to add).
    pub fn overview(&self, now_ms: i64, offset_minutes: i32, alert_ms: i64) -> Overview {
        let day_start = attention::day_start(now_ms, offset_minutes);
        let first_hour = attention::hour_start(now_ms, offset_minutes) - 23 * HOUR;
        let mut hours: Vec<HourBar> = (0..24)
            .map(|h| HourBar {
                start_ms: first_hour + h * HOUR,
                ..HourBar::default()
            })
            .collect();
        let hour = |at: i64| {
            (at >= first_hour && at <= now_ms)
                .then(|| usize::try_from((at - first_hour) / HOUR).ok())
                .flatten()
                .filter(|h| *h < hours.len())
        };
        let mut o = Overview {
            now_ms,
            offset_minutes,
            day_start_ms: day_start,
            wait_alert_ms: alert_ms,
            ..Overview::default()
        };
        let mut to_decision = Vec::new();
        let (mut started, mut decided) = (Vec::new(), Vec::new());
        // The chart's next hour (a day starts on an hour too), unless a wait alerts first.
        let mut next_change = attention::hour_start(now_ms, offset_minutes) + HOUR;
        for (id, r) in &self.known {
            match r.status {
                Status::Active => o.active += 1,
                Status::Paused => o.paused += 1,
                _ => {}
            }
            if let Some(since) = attention::waiting_since(r.status, &r.signals) {
                o.waiting += 1;
                if o.longest_wait_since_ms
                    .is_none_or(|longest| since < longest)
                {
                    o.longest_wait_since_ms = Some(since);
                    o.longest_wait_id = Some(id.to_string());
                }
            }
            if !attention::reasons_of(r.status, &r.signals, now_ms, alert_ms).is_empty() {
                o.queue_total += 1;
            }
            if let Some(at) = attention::next_change_of(r.status, &r.signals, now_ms, alert_ms) {
                next_change = next_change.min(at);
            }
            if let Some(h) = r.started_at.and_then(hour) {
                started.push(h);
            }
            let Some(at) = r.signals.decided_at_ms else {
                continue;
            };
            if let Some(h) = hour(at) {
                decided.push(h);
            }
            if at >= day_start && at <= now_ms {
                match r.status {
                    Status::Approved => o.approved_today += 1,
                    Status::Declined => o.declined_today += 1,
                    Status::Referred => o.referred_today += 1,
                    _ => continue,
                }
                if let Some(start) = r.started_at {
                    to_decision.push((at - start).max(0));
                }
            }
        }
        for h in started {
            hours[h].started += 1;
        }
        for h in decided {
            hours[h].decided += 1;
        }
        o.hours = hours;
        o.median_to_decision_ms = attention::median(&mut to_decision);
        o.next_change_ms = Some(next_change);
        o
    }
}

const HOUR: i64 = 3_600_000;

/// A page of the conversation list for `filter` after `cursor`: from the tally for a set
/// or a search (once it has loaded), otherwise the store's.
pub async fn list_page(
    state: &crate::server::state::AppState,
    filter: &ConversationFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<ConversationPage, TallyError> {
    let kept = state
        .tally
        .page(&state.store, filter, cursor, limit, state.wait_alert_ms)
        .await?;
    match kept {
        Some(page) => Ok(page),
        None => Ok(state
            .store
            .list_conversations(filter, cursor, limit)
            .await?),
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Tally {
    /// The counts, if the tally has loaded and is following the feed.
    pub fn counts(&self) -> Option<StatusCounts> {
        self.read(Counted::counts)
    }

    /// `f` of what the tally holds, if it has loaded and is following the feed.
    pub fn read<T>(&self, f: impl FnOnce(&Counted) -> T) -> Option<T> {
        self.held.read().ok()?.as_ref().map(f)
    }

    /// [`Self::read`], waiting for the first load if it has not happened yet.
    pub async fn read_loaded<T>(&self, f: impl FnOnce(&Counted) -> T) -> Result<T, TallyError> {
        let mut loaded = self.loaded.subscribe();
        let _ = tokio::time::timeout(LOAD_WAIT, loaded.wait_for(|l| *l)).await;
        self.read(f).ok_or(TallyError::Loading)
    }

    /// A page of the conversations `filter` picks (its set at this moment, its search by
    /// the beginnings of words, its status), most recent activity first, after `cursor`
    /// (the store's format: `<activity ms>[~reach]:<id>`); waits alert after `alert_ms`.
    /// `None` for a filter with neither set nor search, or a search before the tally has
    /// loaded: the store answers those. A set waits for the load.
    pub async fn page(
        &self,
        store: &Store,
        filter: &ConversationFilter,
        cursor: Option<&str>,
        limit: usize,
        alert_ms: i64,
    ) -> Result<Option<ConversationPage>, TallyError> {
        if filter.among.is_none() && filter.search.is_none() {
            return Ok(None);
        }
        let after = match cursor {
            Some(text) => Some(cursor_position(text).ok_or(StoreError::BadCursor)?),
            None => None,
        };
        let now = now_ms();
        let select = |c: &Counted| c.select(filter, now, alert_ms);
        let found = if filter.among.is_some() {
            self.read_loaded(select).await?
        } else {
            match self.read(select) {
                Some(found) => found,
                None => return Ok(None),
            }
        };
        let rest = match &after {
            // Most recent first: those after the cursor sort below it.
            Some((at, id)) => found.partition_point(|(a, i)| (a.unwrap_or(0), i) >= (*at, id)),
            None => 0,
        };
        let ids: Vec<String> = found[rest..]
            .iter()
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        let mut summaries = store.summaries(&ids).await?;
        let items: Vec<ConversationSummary> =
            ids.iter().filter_map(|id| summaries.remove(id)).collect();
        let next = (found.len() > rest + limit)
            .then(|| found.get(rest + limit - 1))
            .flatten()
            .map(|(at, id)| format!("{}:{id}", at.unwrap_or(0)));
        Ok(Some(ConversationPage {
            items,
            next,
            wait_alert_ms: alert_ms,
        }))
    }

    fn set(&self, counted: Option<Counted>) {
        let loaded = counted.is_some();
        if let Ok(mut held) = self.held.write() {
            *held = counted;
        }
        if loaded {
            self.loaded.send_replace(true);
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
                    && let Ok(mut held) = self.held.write()
                    && let Some(counted) = held.as_mut()
                {
                    for summary in frame.states() {
                        counted.apply(summary);
                    }
                }
            }
        }
    }
}

async fn load(store: &Store) -> Result<Counted, StoreError> {
    let mut counted = Counted::default();
    for summary in store.all_summaries().await? {
        counted.apply(&summary);
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, status: Status, version: i64) -> ConversationSummary {
        ConversationSummary {
            version,
            ..ConversationSummary::example(id, status)
        }
    }

    #[test]
    fn a_newer_version_moves_a_conversation_between_counts_and_an_older_one_does_not() {
        let mut c = Counted::default();
        c.apply(&summary("a", Status::Active, 1));
        c.apply(&summary("b", Status::Active, 3));
        c.apply(&summary("a", Status::Paused, 2));
        c.apply(&summary("a", Status::Active, 2));
        c.apply(&summary("b", Status::Approved, 2));
        let counts = c.counts();
        assert_eq!(counts.total, 2);
        assert_eq!(counts.of(Status::Paused), 1);
        assert_eq!(counts.of(Status::Active), 1);
        assert_eq!(counts.of(Status::Approved), 0);
        c.apply(&summary("b", Status::Approved, 4));
        assert_eq!(c.counts().of(Status::Approved), 1);
        assert_eq!(c.counts().of(Status::Active), 0);
        assert_eq!(c.counts().total, 2);
    }

    #[test]
    fn the_overview_counts_today_the_last_24_hours_and_the_queue() {
        // 2026-12-03T10:30:00Z; the browser is at UTC+1 (11:30, its day began 23:00Z).
        let now = 1_796_293_800_000;
        let day_start = now - 11 * HOUR - HOUR / 2;
        let mut c = Counted::default();
        let with = |id: &str, status: Status, started: i64, signals: Signals| {
            let mut s = summary(id, status, 1);
            s.started_at_ms = Some(started);
            s.last_activity_ms = Some(started);
            s.signals = signals;
            s
        };
        let decided = |at: i64| Signals {
            decided_at_ms: Some(at),
            ..Signals::default()
        };
        // Decided today: approved after 10 and 30 minutes, declined after 20.
        c.apply(&with(
            "a1",
            Status::Approved,
            now - 2 * HOUR,
            decided(now - 2 * HOUR + 600_000),
        ));
        c.apply(&with(
            "a2",
            Status::Approved,
            now - HOUR,
            decided(now - HOUR + 1_800_000),
        ));
        c.apply(&with(
            "d1",
            Status::Declined,
            now - 3 * HOUR,
            decided(now - 3 * HOUR + 1_200_000),
        ));
        // Referred yesterday (in the browser's zone), 30 minutes before its midnight.
        c.apply(&with(
            "r1",
            Status::Referred,
            day_start - HOUR,
            decided(day_start - 1_800_000),
        ));
        // Waiting: 2 minutes (an alert) and 10 seconds; a paused one with a high fraud risk.
        let waiting = |since: i64| Signals {
            waiting_since_ms: Some(since),
            ..Signals::default()
        };
        c.apply(&with(
            "w1",
            Status::Active,
            now - 300_000,
            waiting(now - 120_000),
        ));
        c.apply(&with(
            "w2",
            Status::Active,
            now - 60_000,
            waiting(now - 10_000),
        ));
        c.apply(&with(
            "p1",
            Status::Paused,
            now - 25 * HOUR,
            Signals {
                fraud_high: true,
                ..Signals::default()
            },
        ));
        let o = c.overview(now, 60, 60_000);
        assert_eq!(o.day_start_ms, day_start);
        assert_eq!((o.active, o.paused, o.waiting), (2, 1, 2));
        assert_eq!(o.longest_wait_since_ms, Some(now - 120_000));
        assert_eq!(o.longest_wait_id.as_deref(), Some("w1"));
        assert_eq!(
            (o.approved_today, o.declined_today, o.referred_today),
            (2, 1, 0)
        );
        assert_eq!(o.median_to_decision_ms, Some(1_200_000));
        assert_eq!(o.approval_rate().map(|r| r.round()), Some(67.0));
        assert_eq!(o.hours.len(), 24);
        assert_eq!(o.hours[23].start_ms, now - HOUR / 2);
        assert_eq!(o.hours.iter().map(|h| h.started).sum::<i64>(), 6);
        assert_eq!(o.hours.iter().map(|h| h.decided).sum::<i64>(), 4);
        // w1 waits past the alert, p1 has a fraud risk, r1 was referred a day ago at most.
        assert_eq!(o.queue_total, 3);
        assert_eq!(
            o.next_change_ms,
            Some(now + 50_000),
            "w2's wait alerts first"
        );
        let quiet = Counted::default().overview(now, 60, 60_000);
        assert_eq!(quiet.next_change_ms, Some(now + HOUR / 2), "the next hour");
        let ids = |found: Vec<Queued>| found.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
        assert_eq!(
            ids(c.pick(Among::Attention, None, now, 60_000)),
            ["w1", "r1", "p1"]
        );
        // 50 seconds on, w2 has waited a minute: it is in too.
        assert_eq!(
            ids(c.pick(Among::Attention, Some(Status::Active), now + 50_000, 60_000)),
            ["w2", "w1"]
        );
        assert_eq!(ids(c.pick(Among::Waiting, None, now, 60_000)), ["w2", "w1"]);
        assert_eq!(
            ids(c.pick(
                Among::DecidedSince(day_start),
                Some(Status::Approved),
                now,
                1
            )),
            ["a2", "a1"]
        );
    }

    #[test]
    fn a_search_finds_the_beginnings_of_words_whatever_the_case_and_accents() {
        let mut c = Counted::default();
        let mut add = |id: &str, app: &str, name: &str, at: i64, status: Status| {
            let mut s = summary(id, status, 1);
            s.application_number = Some(app.into());
            s.customer_name = Some(name.into());
            s.last_activity_ms = Some(at);
            c.apply(&s);
        };
        add("js", "APP-49938-E", "Jane Smith", 3, Status::Active);
        add("ch", "APP-10001-B", "Chloé Tūhoe", 2, Status::Paused);
        add("sm", "APP-49001-A", "Sam Smithers", 1, Status::Active);
        let ids = |found: Vec<Queued>| found.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
        assert_eq!(ids(c.search("smi", None)), ["js", "sm"]);
        assert_eq!(ids(c.search("APP-49", None)), ["js", "sm"]);
        assert_eq!(ids(c.search("app-4993", None)), ["js"]);
        assert_eq!(ids(c.search("jane sm", None)), ["js"]);
        assert_eq!(ids(c.search("SM JA", None)), ["js"]);
        assert_eq!(ids(c.search("chloe", None)), ["ch"]);
        assert_eq!(ids(c.search("tuhoe", None)), ["ch"]);
        assert_eq!(ids(c.search("Tūh", None)), ["ch"]);
        assert_eq!(ids(c.search("s", Some(Status::Active))), ["js", "sm"]);
        assert!(
            c.search("mith", None).is_empty(),
            "not the middle of a word"
        );
        assert!(c.search("jane x", None).is_empty(), "every term");
        let counts = c.select_counts(
            &ConversationFilter::parse(Some("a".into()), Some("active".into())).unwrap(),
            0,
            1,
        );
        assert_eq!((counts.total, counts.of(Status::Active)), (3, 2));
        // A new name adds its words; the old ones still find it (as the store's do).
        let mut renamed = summary("sm", Status::Active, 2);
        renamed.customer_name = Some("Samuel Stone".into());
        renamed.last_activity_ms = Some(4);
        c.apply(&renamed);
        assert_eq!(ids(c.search("sto", None)), ["sm"]);
        assert_eq!(ids(c.search("smith", None)), ["sm", "js"]);
    }
}
