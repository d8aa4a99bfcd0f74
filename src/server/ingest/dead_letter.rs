//! The dead-letter stream: entries that break the contract are copied there, with the
//! reason and their original id, before being acknowledged, so the stream keeps flowing
//! and nothing is lost.

use redis::{AsyncCommands, aio::ConnectionManager, streams::StreamId};

use super::{ConsumerConfig, IngestError};

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
    let _: String = redis.xadd(&config.dead_stream, "*", &fields).await?;
    Ok(())
}

/// The bytes of a field value exactly as Redis holds them.
fn value_bytes(value: &redis::Value) -> Vec<u8> {
    match value {
        redis::Value::BulkString(bytes) => bytes.clone(),
        redis::Value::SimpleString(s) => s.as_bytes().to_vec(),
        other => format!("{other:?}").into_bytes(),
    }
}
