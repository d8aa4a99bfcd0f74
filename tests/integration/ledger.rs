//! Operator commands on the ledger: replay and the dead-letter stream.

use billie_dashboard::server::feed::Publisher;
use billie_dashboard::server::ingest::{self, dead_letter};
use billie_dashboard::server::projection::Limits;
use redis::AsyncCommands;

use crate::helpers::{TestEnv, fixture, fixture_fields};

#[tokio::test]
async fn replay_rebuilds_projections_and_is_idempotent() {
    let env = TestEnv::new().await;
    let entries = fixture_fields("conversations.jsonl");
    env.append(&entries).await;
    let mut redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();
    let publisher = Publisher::new(redis.clone(), env.channel.clone());

    let first = ingest::replay(
        &mut redis,
        &env.store,
        &publisher,
        &env.stream,
        &Limits::default(),
        7,
    )
    .await
    .unwrap();
    let second = ingest::replay(
        &mut redis,
        &env.store,
        &publisher,
        &env.stream,
        &Limits::default(),
        50,
    )
    .await
    .unwrap();

    assert_eq!(first.entries(), entries.len());
    assert!(first.applied > 0);
    assert_eq!(second.applied, 0, "a second replay changes nothing");
    assert_eq!(second.duplicates, first.applied);
    env.assert_expected_message_counts().await;
    // Live ingest over the same stream afterwards finds everything applied.
    let mut consumer = env.consumer("c1").await;
    let report = env.drain(&mut consumer).await;
    assert_eq!(report.applied, 0);
}

#[tokio::test]
async fn dead_letters_are_listed_and_retried_into_the_ledger() {
    let env = TestEnv::new().await;
    let bad = fixture("bad.jsonl");
    env.append(&[bad[0].0.clone(), bad[4].0.clone()]).await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let mut redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();

    let letters = dead_letter::list(&mut redis, &env.dead_stream, 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].reason, "missing conv");
    assert_eq!(letters[0].original_stream, env.stream);
    let mut original = bad[0].0.clone();
    original.sort();
    let shown: Vec<(String, String)> = letters[0]
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
        .collect();
    assert_eq!(shown, original);

    // Retrying one moves it back into the ledger; it is refused again, as it should be.
    let moved = dead_letter::retry(
        &mut redis,
        &env.dead_stream,
        &env.stream,
        &[letters[1].id.clone()],
    )
    .await
    .unwrap();
    assert_eq!(moved, 1);
    let len: usize = redis.xlen(&env.dead_stream).await.unwrap();
    assert_eq!(len, 1);
    let report = env.drain(&mut consumer).await;
    assert_eq!(report.dead_lettered, 1);
    let after = dead_letter::list(&mut redis, &env.dead_stream, 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[1].reason, "seq is not an integer");

    // Retrying all of them empties the dead-letter stream.
    let moved = dead_letter::retry(&mut redis, &env.dead_stream, &env.stream, &[])
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let len: usize = redis.xlen(&env.dead_stream).await.unwrap();
    assert_eq!(len, 0);
}
