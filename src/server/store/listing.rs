//! The conversation list: filtered, most recent activity first, a page at a time. Pages
//! are cut by keyset on `(last_activity_at, _id)` rather than by offset, so a supervisor
//! scrolling while conversations move to the top sees each one exactly once; the indexes
//! made in [`Store::connect`] match these queries.

use mongodb::bson::{self, Bson, Document, doc};

use super::{Store, StoreError, SummaryDoc, summary_projection};
use crate::api::{
    ConversationFilter, ConversationPage, ConversationSummary, Status, StatusCounts, search_words,
};
use crate::server::projection::SEARCH_WORDS;

impl Store {
    /// A page of the conversations `filter` selects, after the one `after` ends.
    ///
    /// Every query is bounded on `last_activity_at` from below as well as above: some
    /// servers (secantusd-rs among them) walk an index range to its end before applying
    /// the limit, so an open-ended query costs the whole collection. The page is filled
    /// from time windows reaching further back, each eight times the last, and only when
    /// they are exhausted is the rest of the history asked for in one open query.
    ///
    /// The first window of a following page is twice as long as the previous page
    /// reached (its cursor says how far), so a scroll through a filter of any density
    /// usually costs one query a page. That window includes the cursor's own time, and
    /// what the page before showed of it is left out ([`Self::page_after`]).
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError> {
        let limit = limit.clamp(1, 200);
        let want = limit + 1;
        let base = filter_query(filter);
        let cursor = after
            .map(|text| Cursor::parse(text).ok_or(StoreError::BadCursor))
            .transpose()?;
        let mut items = Vec::with_capacity(want);
        let newest = cursor
            .as_ref()
            .map_or_else(|| bson::DateTime::now().timestamp_millis(), |c| c.at_ms);
        // A search for a number (an application number, nearly unique) is one open query:
        // it reads only its word's few index entries. In a time window, secantusd-rs
        // reads the window's conversations instead, so a rare word walked through every
        // window (up to a second at 100,000 conversations).
        let mut span = if searches_a_number(filter) {
            LAST_WINDOW_MS.saturating_mul(8)
        } else {
            cursor
                .as_ref()
                .and_then(|c| c.reach_ms)
                .map_or(FIRST_WINDOW_MS, |reach| {
                    reach.saturating_mul(2).clamp(MIN_WINDOW_MS, LAST_WINDOW_MS)
                })
        };
        // The window's upper bound: the cursor's time, inclusive, then each window's floor.
        let mut top = cursor
            .as_ref()
            .map(|c| doc! { "$lte": bson::DateTime::from_millis(c.at_ms) });
        let mut first_after = cursor.as_ref();
        while items.len() < want {
            let mut range = top.take().unwrap_or_default();
            let open = span > LAST_WINDOW_MS;
            if !open {
                let floor = bson::DateTime::from_millis(newest.saturating_sub(span));
                range.insert("$gte", floor);
                top = Some(doc! { "$lt": floor });
            }
            let mut query = base.clone();
            if !range.is_empty() {
                query.insert("last_activity_at", range);
            }
            match first_after.take() {
                Some(cursor) => self.page_after(cursor, query, want, &mut items).await?,
                None => {
                    self.page_into(query, want - items.len(), &mut items)
                        .await?
                }
            }
            if open {
                break;
            }
            span = span.saturating_mul(8);
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            Some(Cursor::after(&items).to_string())
        } else {
            None
        };
        Ok(ConversationPage {
            items,
            next,
            wait_alert_ms: 0,
        })
    }

    /// Appends up to `n` conversations of the first window after `cursor`, which
    /// includes the cursor's own time. The conversations of that time down to the
    /// cursor's id were on the page before: they are asked for beyond `n` and left out
    /// here, as an `$or` or `$nor` saying so is planned as a scan by some servers.
    /// Usually that is the cursor's conversation alone; if more share its time, the
    /// window is asked again for more.
    async fn page_after(
        &self,
        cursor: &Cursor,
        query: Document,
        n: usize,
        items: &mut Vec<ConversationSummary>,
    ) -> Result<(), StoreError> {
        let mut extra = 1_usize;
        loop {
            let asked = n.saturating_add(extra);
            let mut window = Vec::with_capacity(asked);
            self.page_into(query.clone(), asked, &mut window).await?;
            let returned = window.len();
            window.retain(|s| !cursor.has_shown(s));
            if returned < asked || window.len() >= n {
                items.extend(window.into_iter().take(n));
                return Ok(());
            }
            extra = extra.saturating_mul(8);
        }
    }

    /// Appends up to `n` conversations matching `query`, most recent first.
    async fn page_into(
        &self,
        query: Document,
        n: usize,
        items: &mut Vec<ConversationSummary>,
    ) -> Result<(), StoreError> {
        let mut cursor = self
            .conversations
            .find(query)
            .sort(doc! { "last_activity_at": -1, "_id": -1 })
            .projection(summary_projection())
            .limit(n as i64)
            .await?;
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            items.push(ConversationSummary::from(doc));
        }
        Ok(())
    }

    /// How many conversations match `filter`'s search, per status (its status is ignored:
    /// the counts label the status tabs).
    pub async fn count_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<StatusCounts, StoreError> {
        let search_only = ConversationFilter {
            search: filter.search.clone(),
            status: None,
            among: None,
        };
        let mut cursor = self
            .conversations
            .aggregate([
                doc! { "$match": filter_query(&search_only) },
                doc! { "$group": { "_id": "$status", "n": { "$sum": 1 } } },
            ])
            .await?;
        let mut counts = StatusCounts::default();
        while cursor.advance().await? {
            let row = cursor.deserialize_current()?;
            let n = match row.get("n") {
                Some(Bson::Int32(n)) => i64::from(*n),
                Some(Bson::Int64(n)) => *n,
                Some(Bson::Double(n)) => *n as i64,
                _ => 0,
            };
            counts.total += n;
            if let Some(status) = row.get_str("_id").ok().and_then(Status::parse) {
                counts.by_status.push((status, n));
            }
        }
        Ok(counts)
    }
}

impl Store {
    /// Every conversation's summary (for `tally`).
    pub async fn all_summaries(&self) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut cursor = self
            .conversations
            .find(doc! {})
            .projection(summary_projection())
            .batch_size(10_000)
            .await?;
        let mut rows = Vec::new();
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            rows.push(ConversationSummary::from(doc));
        }
        Ok(rows)
    }
}

/// The MongoDB query for `filter`: whole words. The lists search by the beginnings of
/// words, from each web process's tally (`server::tally`); the store's query answers
/// until the tally has loaded.
fn filter_query(filter: &ConversationFilter) -> Document {
    let mut query = Document::new();
    if let Some(status) = &filter.status {
        query.insert("status", status.as_str());
    }
    if filter.search.is_some() {
        // Each word is one of the conversation's search words: a point of the
        // `by_search_word` index, whose entries under it are in activity order.
        let clauses: Vec<Document> = search_order(filter)
            .into_iter()
            .map(|word| doc! { SEARCH_WORDS: word })
            .collect();
        query.insert("$and", clauses);
    }
    query
}

/// The words of the filter's search, the likeliest to be rare first: some servers
/// (secantusd-rs) read the index for the first clause only. Words with a digit come
/// first, as they are parts of application numbers, nearly unique ("04217", where "app"
/// is in every number), then longer words before shorter ones. So a number typed
/// halfway ("APP-0") reads the few entries of "0", not every conversation's "app".
fn search_order(filter: &ConversationFilter) -> Vec<String> {
    let mut words = filter
        .search
        .as_deref()
        .map(search_words)
        .unwrap_or_default();
    words.sort_by_key(|word| std::cmp::Reverse((has_digit(word), word.chars().count())));
    words
}

fn has_digit(word: &str) -> bool {
    word.chars().any(char::is_numeric)
}

/// Whether the word a search reads the index by has a digit: part of an application
/// number rather than of a name.
fn searches_a_number(filter: &ConversationFilter) -> bool {
    search_order(filter)
        .first()
        .is_some_and(|word| has_digit(word))
}

/// The first time window a first page is looked for in (an hour), the narrowest a
/// following page starts from (a minute), and the widest before the rest of the history
/// is asked for at once (about four years).
const FIRST_WINDOW_MS: i64 = 60 * 60 * 1000;
const MIN_WINDOW_MS: i64 = 60 * 1000;
const LAST_WINDOW_MS: i64 = FIRST_WINDOW_MS * 8 * 8 * 8 * 8 * 8;

/// `text` as a regular expression that matches exactly it.
pub(super) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where a page given `text` as its cursor ends: the last conversation's activity time and
/// id; `None` for a cursor no list gave.
pub fn cursor_position(text: &str) -> Option<(i64, String)> {
    Cursor::parse(text).map(|c| (c.at_ms, c.id))
}

/// Where a page ended, as its `next` token: the last conversation's activity time and
/// id, and how far back in time the page reached, so the next one knows how wide a
/// window to start from. Written `{at}~{reach}:{id}`; ids may hold colons, and a token
/// without `~{reach}` (from before it was added) still reads.
#[derive(Debug, PartialEq)]
struct Cursor {
    at_ms: i64,
    reach_ms: Option<i64>,
    id: String,
}

impl Cursor {
    fn parse(text: &str) -> Option<Self> {
        let (head, id) = text.split_once(':')?;
        let (at, reach) = match head.split_once('~') {
            Some((at, reach)) => (at, Some(reach.parse().ok().filter(|r: &i64| *r >= 0)?)),
            None => (head, None),
        };
        Some(Self {
            at_ms: at.parse().ok()?,
            reach_ms: reach,
            id: id.to_owned(),
        })
    }

    /// The cursor after a full page (not empty): its last conversation, and the time
    /// between its first and last.
    fn after(page: &[ConversationSummary]) -> Self {
        let at = |s: Option<&ConversationSummary>| s.and_then(|s| s.last_activity_ms);
        let last = page.last();
        Self {
            at_ms: at(last).unwrap_or(0),
            reach_ms: at(page.first())
                .zip(at(last))
                .map(|(first, last)| first.saturating_sub(last).max(0)),
            id: last.map(|s| s.id.clone()).unwrap_or_default(),
        }
    }

    /// Whether a page ending here showed `s`: the cursor's own conversation, and those
    /// of its time above it in id order (pages run down the ids within a time).
    fn has_shown(&self, s: &ConversationSummary) -> bool {
        s.last_activity_ms == Some(self.at_ms) && s.id >= self.id
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.at_ms)?;
        if let Some(reach) = self.reach_ms {
            write!(f, "~{reach}")?;
        }
        write!(f, ":{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> ConversationSummary {
        ConversationSummary {
            application_number: Some("APP-2026-0042".into()),
            customer_name: Some("Zoë O'Brien".into()),
            last_activity_ms: Some(42),
            ..ConversationSummary::example(id, Status::Active)
        }
    }

    #[test]
    fn cursor_round_trips_ids_with_colons_and_says_how_far_the_page_reached() {
        let mut first = summary("x");
        first.last_activity_ms = Some(1_042);
        let page = [first, summary("a:b")];
        let text = Cursor::after(&page).to_string();
        assert_eq!(text, "42~1000:a:b");
        assert_eq!(
            Cursor::parse(&text),
            Some(Cursor {
                at_ms: 42,
                reach_ms: Some(1000),
                id: "a:b".into()
            })
        );
    }

    #[test]
    fn cursors_from_before_the_reach_still_read_and_nonsense_does_not() {
        assert_eq!(
            Cursor::parse("42:a:b"),
            Some(Cursor {
                at_ms: 42,
                reach_ms: None,
                id: "a:b".into()
            })
        );
        for bad in ["nonsense", "x:a", "42~x:a", "42~-5:a", "~5:a"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn customer_search_text_is_matched_literally() {
        assert_eq!(regex_escape("a.b*(c)"), r"a\.b\*\(c\)");
    }

    #[test]
    fn a_search_is_its_words_longest_first() {
        let query = filter_query(&ConversationFilter {
            search: Some("APP-04217 (x.*)".into()),
            status: Some(Status::Paused),
            among: None,
        });
        assert_eq!(query.get_str("status"), Ok("paused"));
        assert_eq!(
            query.get_array("$and"),
            Ok(&vec![
                doc! { SEARCH_WORDS: "04217" }.into(),
                doc! { SEARCH_WORDS: "app" }.into(),
                doc! { SEARCH_WORDS: "x" }.into(),
            ])
        );
    }

    #[test]
    fn a_half_typed_application_number_is_read_by_its_digits() {
        let query = filter_query(&ConversationFilter {
            search: Some("APP-0".into()),
            status: None,
            among: None,
        });
        assert_eq!(
            query.get_array("$and"),
            Ok(&vec![
                doc! { SEARCH_WORDS: "0" }.into(),
                doc! { SEARCH_WORDS: "app" }.into(),
            ])
        );
    }

    #[test]
    fn a_search_led_by_a_number_is_one_open_query() {
        let search = |text: &str| ConversationFilter {
            search: Some(text.into()),
            status: None,
            among: None,
        };
        assert!(searches_a_number(&search("APP-04217")));
        assert!(searches_a_number(&search("jo 2026")));
        assert!(searches_a_number(&search("smith 42")));
        assert!(!searches_a_number(&search("jo smith")));
        assert!(!searches_a_number(&ConversationFilter::default()));
    }

    #[test]
    fn the_browser_matches_as_the_tally_does_by_the_beginnings_of_words() {
        let c = summary("x");
        let with = |search: &str| ConversationFilter {
            search: Some(search.into()),
            status: None,
            among: None,
        };
        assert!(with("app-2026").matches(&c));
        assert!(with("O'BRIEN zoË").matches(&c));
        assert!(with("0042").matches(&c));
        // The beginnings of words, accents or not; every term must begin one.
        assert!(with("o'b").matches(&c));
        assert!(with("zoe o").matches(&c));
        assert!(with("APP-20").matches(&c));
        assert!(!with("0043").matches(&c));
        assert!(!with("zoë smith").matches(&c));
        assert!(!with("rien").matches(&c));
        let paused = ConversationFilter {
            search: None,
            status: Some(Status::Paused),
            among: None,
        };
        assert!(!paused.matches(&c));
    }
}
