//! The dead-letter stream: entries that break the contract are copied there, with the
//! reason and their original id, before being acknowledged, so the stream keeps flowing
//! and nothing is lost. Each copy also counts in its hour ([`count_key`]), so the
//! overview tells admins how many arrived in the last 24 hours without reading the
//! stream (its entries can be large).

use redis::{AsyncCommands, aio::ConnectionManager, streams::StreamId};

use super::{ConsumerConfig, IngestError};
use crate::api::{Arrival, Outcome};
use crate::contract::CONVERSATION_FIELDS;

pub async fn copy(
    redis: &mut ConnectionManager,
    config: &ConsumerConfig,
    entry: &StreamId,
    reason: &str,
) -> Result<(), IngestError> {
    let mut fields: Vec<(String, Vec<u8>)> = vec![
        ("reason".into(), reason.as_bytes().to_vec()),
        ("original_id".into(), entry.id.as_bytes().to_vec()),
        ("original_stream".into(), config.stream.as_bytes().to_vec()),
    ];
    fields.extend(
        entry
            .map
            .iter()
            .map(|(k, v)| (format!("original.{k}"), value_bytes(v))),
    );
    let hour = crate::server::tally::now_ms().div_euclid(HOUR_MS);
    let count = count_key(&config.dead_stream, hour);
    let _: () = redis::pipe()
        .atomic()
        .xadd(&config.dead_stream, "*", &fields)
        .ignore()
        .incr(&count, 1)
        .ignore()
        .expire(&count, COUNT_KEPT_SECS)
        .ignore()
        .query_async(redis)
        .await?;
    Ok(())
}

const HOUR_MS: i64 = 3_600_000;
/// An hour's count outlives the 24 hours it is summed over.
const COUNT_KEPT_SECS: i64 = 25 * 3600;

/// The key counting the dead letters of `hour` (hours since 1970, UTC).
pub fn count_key(dead_stream: &str, hour: i64) -> String {
    format!("{dead_stream}:count:{hour}")
}

/// Dead letters copied in the 24 hours up to `now_ms`, by the hour: this hour and the
/// 23 before it.
pub async fn count_last_day(
    redis: &mut ConnectionManager,
    dead_stream: &str,
    now_ms: i64,
) -> Result<i64, redis::RedisError> {
    let hour = now_ms.div_euclid(HOUR_MS);
    let keys: Vec<String> = (hour - 23..=hour)
        .map(|h| count_key(dead_stream, h))
        .collect();
    let counts: Vec<Option<i64>> = redis.mget(&keys).await?;
    Ok(counts.into_iter().flatten().sum())
}

/// A refused entry's record on its conversation's timeline, when it names one (as text,
/// of a sane length): the conversation's auditors see that something arrived and why it
/// was refused. Its other texts are cut to [`SHOWN_CHARS`]: a refused entry can be of any
/// size, and its record must still fit in a document.
pub fn arrival(entry: &StreamId, reason: &str) -> Option<(String, Arrival)> {
    let text = |name: &str| {
        entry
            .map
            .get(name)
            .and_then(|v| String::from_utf8(value_bytes(v)).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let conversation = CONVERSATION_FIELDS
        .iter()
        .find_map(|name| text(name))
        .filter(|conv| conv.chars().count() <= SHOWN_CHARS)?;
    Some((
        conversation,
        Arrival {
            entry_id: entry.id.clone(),
            typ: text("typ").map(shown).unwrap_or_default(),
            seq: text("seq").and_then(|s| s.parse().ok()),
            agent: text("agt").map(shown),
            at_ms: None,
            outcome: Outcome::Refused,
            reason: Some(shown(reason.to_owned())),
        },
    ))
}

/// The longest text a refusal's record keeps.
const SHOWN_CHARS: usize = 200;

/// `text`, cut to [`SHOWN_CHARS`] characters, with "…" if it was longer.
fn shown(text: String) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => text,
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The bytes of a field value exactly as Redis holds them.
fn value_bytes(value: &redis::Value) -> Vec<u8> {
    match value {
        redis::Value::BulkString(bytes) => bytes.clone(),
        redis::Value::SimpleString(s) => s.as_bytes().to_vec(),
        other => format!("{other:?}").into_bytes(),
    }
}

/// One entry of the dead-letter stream, as `dead-letter list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: String,
    pub reason: String,
    pub original_id: String,
    pub original_stream: String,
    /// The original entry's fields, as they were.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl DeadLetter {
    fn from_entry(entry: StreamId) -> Self {
        let text = |name: &str| {
            entry
                .map
                .get(name)
                .map(|v| String::from_utf8_lossy(&value_bytes(v)).into_owned())
                .unwrap_or_default()
        };
        let mut fields: Vec<(String, Vec<u8>)> = entry
            .map
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("original.")?.to_owned(), value_bytes(v))))
            .collect();
        fields.sort();
        Self {
            reason: text("reason"),
            original_id: text("original_id"),
            original_stream: text("original_stream"),
            id: entry.id,
            fields,
        }
    }
}

/// The oldest `count` dead letters.
pub async fn list(
    redis: &mut ConnectionManager,
    dead_stream: &str,
    count: usize,
) -> Result<Vec<DeadLetter>, IngestError> {
    let reply: redis::streams::StreamRangeReply =
        redis.xrange_count(dead_stream, "-", "+", count).await?;
    Ok(reply.ids.into_iter().map(DeadLetter::from_entry).collect())
}

/// Appends the dead letters `ids` (all of them when empty) to their original stream again,
/// as new entries, and removes them from the dead-letter stream, each in one transaction.
/// An entry that breaks the contract again simply comes back. Returns how many moved.
pub async fn retry(
    redis: &mut ConnectionManager,
    dead_stream: &str,
    fallback_stream: &str,
    ids: &[String],
) -> Result<usize, IngestError> {
    let letters = if ids.is_empty() {
        let reply: redis::streams::StreamRangeReply = redis.xrange_all(dead_stream).await?;
        reply.ids.into_iter().map(DeadLetter::from_entry).collect()
    } else {
        let mut letters = Vec::with_capacity(ids.len());
        for id in ids {
            let found = list_range(redis, dead_stream, id).await?;
            letters.extend(found);
        }
        letters
    };
    let mut moved = 0;
    for letter in letters {
        if letter.fields.is_empty() {
            // Nothing to re-drive (the original had been removed from the stream).
            continue;
        }
        let stream = if letter.original_stream.is_empty() {
            fallback_stream
        } else {
            &letter.original_stream
        };
        let _: () = redis::pipe()
            .atomic()
            .xadd(stream, "*", &letter.fields)
            .ignore()
            .xdel(dead_stream, &[&letter.id])
            .ignore()
            .query_async(redis)
            .await?;
        moved += 1;
    }
    Ok(moved)
}

async fn list_range(
    redis: &mut ConnectionManager,
    dead_stream: &str,
    id: &str,
) -> Result<Vec<DeadLetter>, IngestError> {
    let reply: redis::streams::StreamRangeReply =
        redis.xrange_count(dead_stream, id, id, 1).await?;
    Ok(reply.ids.into_iter().map(DeadLetter::from_entry).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, String)]) -> StreamId {
        StreamId {
            id: "1764230400000-0".to_owned(),
            map: fields
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        redis::Value::BulkString(v.clone().into_bytes()),
                    )
                })
                .collect(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    #[test]
    fn a_refusal_of_any_size_is_recorded_in_a_few_hundred_characters() {
        let huge = entry(&[("cid", "c1".into()), ("typ", "x".repeat(20_000_000))]);
        let (conversation, record) = arrival(&huge, &"why ".repeat(1_000)).unwrap();
        assert_eq!(conversation, "c1", "the older spelling names it too");
        assert_eq!(record.typ.chars().count(), SHOWN_CHARS + 1);
        assert!(record.typ.ends_with('…'));
        assert_eq!(
            record.reason.map(|r| r.chars().count()),
            Some(SHOWN_CHARS + 1)
        );
        assert_eq!(record.outcome, Outcome::Refused);

        let long_id = entry(&[("conv", "c".repeat(SHOWN_CHARS + 1))]);
        assert!(
            arrival(&long_id, "why").is_none(),
            "no timeline for such an id"
        );
        assert!(arrival(&entry(&[("typ", "t".into())]), "why").is_none());
    }
}
