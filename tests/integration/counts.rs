//! The status counts a web process keeps from the live feed (`server::tally`) agree with
//! the store's own count: after a load, as ingest applies the fixtures, and after a
//! resync.

use std::time::Duration;

use billie_dashboard::api::ConversationFilter;

use crate::helpers::{TestEnv, fixture_fields};

#[tokio::test]
async fn the_kept_counts_follow_ingest_and_agree_with_the_store() {
    let env = TestEnv::new().await;
    let entries = fixture_fields("conversations.jsonl");
    // Some conversations before the tally loads, the rest while it follows the feed.
    let (before, after) = entries.split_at(entries.len() / 2);
    env.append(before).await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;

    let tally = crate::helpers::following_tally(&env);
    let all = ConversationFilter::default();
    let agree = || async {
        let want = env.store.count_conversations(&all).await.unwrap();
        for _ in 0..200 {
            if let Some(got) = tally.counts()
                && got.total == want.total
                && got.by_status.iter().all(|(s, n)| want.of(*s) == *n)
                && want.by_status.iter().all(|(s, n)| got.of(*s) == *n)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the tally {:?} never agreed with the store {want:?}",
            tally.counts()
        );
    };
    agree().await;
    // Changes published before the relay subscribed are covered by the load its first
    // resync brings; the rest reach the tally as they come.
    env.append(after).await;
    env.drain(&mut consumer).await;
    agree().await;
    let counts = tally.counts().unwrap();
    assert_eq!(
        counts.total as usize,
        crate::helpers::expected().len(),
        "every fixture conversation, once"
    );
}
