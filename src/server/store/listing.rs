//! The conversation list: filtered, most recent activity first, a page at a time. Pages
//! are cut by keyset on `(last_activity_at, _id)` rather than by offset, so a supervisor
//! scrolling while conversations move to the top sees each one exactly once; the indexes
//! made in [`Store::connect`] match these queries.

use mongodb::bson::{self, Bson, Document, doc};

use super::{Store, StoreError, SummaryDoc, summary_projection};
use crate::api::{ConversationFilter, ConversationPage, ConversationSummary, StatusCounts};

impl Store {
    /// A page of the conversations `filter` selects, after the one `after` ends.
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError> {
        let mut query = filter_query(filter);
        if let Some(cursor) = after {
            let (ms, id) = parse_cursor(cursor).ok_or(StoreError::BadCursor)?;
            let at = bson::DateTime::from_millis(ms);
            and(
                &mut query,
                doc! { "$or": [
                    { "last_activity_at": { "$lt": at } },
                    { "last_activity_at": at, "_id": { "$lt": id } },
                ] },
            );
        }
        let limit = limit.clamp(1, 200);
        let mut cursor = self
            .conversations
            .find(query)
            .sort(doc! { "last_activity_at": -1, "_id": -1 })
            .projection(summary_projection())
            .limit(limit as i64 + 1)
            .await?;
        let mut items = Vec::with_capacity(limit + 1);
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            items.push(ConversationSummary::from(doc));
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(make_cursor)
        } else {
            None
        };
        Ok(ConversationPage { items, next })
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
            if let Ok(status) = row.get_str("_id") {
                counts.by_status.push((status.to_owned(), n));
            }
        }
        Ok(counts)
    }
}

/// The MongoDB query for `filter`; [`ConversationFilter::matches`] is its twin in Rust.
fn filter_query(filter: &ConversationFilter) -> Document {
    let mut query = Document::new();
    if let Some(status) = &filter.status {
        query.insert("status", status.as_str());
    }
    if let Some(search) = &filter.search {
        let contains = doc! { "$regex": regex_escape(search), "$options": "i" };
        query.insert(
            "$or",
            vec![
                doc! { "application_number": contains.clone() },
                doc! { "application.application_number": contains.clone() },
                doc! { "customer_name": contains },
            ],
        );
    }
    query
}

/// Adds `clause` to `query` so both must hold.
fn and(query: &mut Document, clause: Document) {
    let mut clauses = match query.remove("$and") {
        Some(Bson::Array(clauses)) => clauses,
        _ => Vec::new(),
    };
    clauses.push(Bson::Document(clause));
    query.insert("$and", clauses);
}

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

fn make_cursor(s: &ConversationSummary) -> String {
    format!("{}:{}", s.last_activity_ms.unwrap_or(0), s.id)
}

fn parse_cursor(cursor: &str) -> Option<(i64, &str)> {
    let (ms, id) = cursor.split_once(':')?;
    Some((ms.parse().ok()?, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            application_number: Some("APP-2026-0042".into()),
            customer_id: None,
            customer_name: Some("Zoë O'Brien".into()),
            loan_amount: None,
            loan_purpose: None,
            status: "active".into(),
            started_at_ms: None,
            last_activity_ms: Some(42),
            message_count: 0,
            version: 1,
        }
    }

    #[test]
    fn cursor_round_trips_ids_with_colons() {
        assert_eq!(
            parse_cursor(&make_cursor(&summary("a:b"))),
            Some((42, "a:b"))
        );
        assert_eq!(parse_cursor("nonsense"), None);
    }

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(regex_escape("a.b*(c)"), r"a\.b\*\(c\)");
        let query = filter_query(&ConversationFilter {
            search: Some("app-2026".into()),
            status: Some("paused".into()),
        });
        assert_eq!(query.get_str("status"), Ok("paused"));
        assert!(query.get_array("$or").is_ok());
    }

    #[test]
    fn the_browser_matches_as_the_query_does() {
        let c = summary("x");
        let with = |search: &str| ConversationFilter {
            search: Some(search.into()),
            status: None,
        };
        assert!(with("app-2026").matches(&c));
        assert!(with("zoË o'b").matches(&c));
        assert!(!with("0043").matches(&c));
        let paused = ConversationFilter {
            search: None,
            status: Some("paused".into()),
        };
        assert!(!paused.matches(&c));
    }
}
