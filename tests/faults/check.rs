//! What must hold after every fault: the group caught up (0 pending), nothing
//! dead-lettered, and projections equal, document for document, to those an in-order
//! replay of the same stream builds in a fresh database.

use std::time::{Duration, Instant};

use mongodb::bson::{Bson, Document, doc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamInfoGroupsReply, StreamInfoStreamReply};

use crate::Error;

/// The newest entry id of `stream` now.
pub async fn last_id(redis: &mut ConnectionManager, stream: &str) -> Result<String, Error> {
    let info: StreamInfoStreamReply = redis.xinfo_stream(stream).await?;
    Ok(info.last_generated_id)
}

fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Whether the group has delivered and acknowledged everything up to entry `mark`.
async fn caught_up(
    redis: &mut ConnectionManager,
    stream: &str,
    group: &str,
    mark: &str,
) -> Result<bool, Error> {
    let groups: StreamInfoGroupsReply = redis.xinfo_groups(stream).await?;
    let Some(info) = groups.groups.into_iter().find(|g| g.name == group) else {
        return Ok(false);
    };
    if id_key(&info.last_delivered_id) < id_key(mark) {
        return Ok(false);
    }
    let pending: redis::streams::StreamPendingCountReply =
        redis.xpending_count(stream, group, "-", mark, 1).await?;
    Ok(pending.ids.is_empty())
}

/// Waits (checking Redis, not the clock) until every entry up to `mark` is processed;
/// how long it took. Redis errors while it restarts are waited out.
pub async fn wait_caught_up(
    redis: &mut ConnectionManager,
    stream: &str,
    group: &str,
    mark: &str,
    limit: Duration,
) -> Result<Duration, Error> {
    let started = Instant::now();
    loop {
        if let Ok(true) = caught_up(redis, stream, group, mark).await {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!("entries up to {mark} not processed within {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Entries delivered to the group and not acknowledged.
pub async fn pending(
    redis: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<usize, Error> {
    let reply: redis::streams::StreamPendingReply = redis.xpending(stream, group).await?;
    Ok(reply.count())
}

pub async fn entries(redis: &mut ConnectionManager, stream: &str) -> Result<usize, Error> {
    Ok(redis.xlen(stream).await?)
}

/// The first difference between the projections of databases `got` and `want`, if any;
/// and how many documents were compared.
pub async fn compare(got_uri: &str, want_uri: &str) -> Result<(usize, Option<String>), Error> {
    let got = database(got_uri).await?;
    let want = database(want_uri).await?;
    let mut compared = 0;
    for collection in ["conversations", "customers"] {
        let got_docs = documents(&got, collection).await?;
        let want_docs = documents(&want, collection).await?;
        if got_docs.len() != want_docs.len() {
            return Ok((
                compared,
                Some(format!(
                    "{collection}: {} documents under fault, {} in order",
                    got_docs.len(),
                    want_docs.len()
                )),
            ));
        }
        for (g, w) in got_docs.iter().zip(&want_docs) {
            compared += 1;
            if g != w {
                let id = w.get("_id").map(ToString::to_string).unwrap_or_default();
                let mut fields: Vec<&String> = w
                    .keys()
                    .chain(g.keys())
                    .filter(|k| g.get(*k) != w.get(*k))
                    .collect();
                fields.sort();
                fields.dedup();
                let values: Vec<String> = fields
                    .iter()
                    .map(|k| format!("{k}: {:?} under fault, {:?} in order", g.get(*k), w.get(*k)))
                    .collect();
                return Ok((
                    compared,
                    Some(format!("{collection} {id} differs: {}", values.join("; "))),
                ));
            }
        }
    }
    Ok((compared, None))
}

async fn database(uri: &str) -> Result<mongodb::Database, Error> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    client
        .default_database()
        .ok_or_else(|| "the URI names no database".into())
}

/// Every document of `collection`, by id, in a canonical form: what only time or
/// arrival order decides is left out.
async fn documents(db: &mongodb::Database, collection: &str) -> Result<Vec<Document>, Error> {
    use futures::TryStreamExt;
    let docs: Vec<Document> = db
        .collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs.into_iter().map(canonical).collect())
}

/// Leaves out `version`, and `status` while undecided: the status task moves an undecided
/// conversation's status with the clock (each move a version), so two runs at different
/// times differ there by design. Sets stored as arrays (the applied event keys, the
/// search words) are sorted: their order is the order of arrival.
fn canonical(mut doc: Document) -> Document {
    doc.remove("version");
    if matches!(
        doc.get_str("status"),
        Ok("active" | "paused" | "soft_end" | "hard_end")
    ) {
        doc.remove("status");
    }
    for (_, value) in doc.iter_mut() {
        if let Bson::Array(items) = value
            && items.iter().all(|i| matches!(i, Bson::String(_)))
        {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    doc
}

/// The group's backlog now: entries delivered but not acknowledged, and not yet read.
pub async fn backlog(
    redis: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<(usize, usize), Error> {
    let groups: StreamInfoGroupsReply = redis.xinfo_groups(stream).await?;
    let info = groups
        .groups
        .into_iter()
        .find(|g| g.name == group)
        .ok_or("no consumer group")?;
    Ok((info.pending, info.lag.unwrap_or(0)))
}

/// Each conversation's version in the store.
pub async fn versions(uri: &str) -> Result<std::collections::HashMap<String, i64>, Error> {
    use futures::TryStreamExt;
    let docs: Vec<Document> = database(uri)
        .await?
        .collection::<Document>("conversations")
        .find(doc! {})
        .projection(doc! { "version": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            Some((
                d.get_str("_id").ok()?.to_owned(),
                d.get_i64("version").ok()?,
            ))
        })
        .collect())
}

/// The least-squares slope of `samples` (seconds, value), per hour.
pub fn slope_per_hour(samples: &[(f64, f64)]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (sx, sy) = samples
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = samples.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den * 3600.0 }
}
