//! The timeline (`api::timeline`) and API tokens against the real store: every entry of a
//! conversation recorded once, in stream order, with its outcome; an entry read again
//! after a crash keeps its first record; tokens found by their text until revoked.

use billie_dashboard::api::Outcome;
use billie_dashboard::server::store::StoreError;

use crate::helpers::{TestEnv, fixture_fields};

const CONV: &str = "cd613e30-d8f1-6adf-91b7-584a2265b1f5";

fn conv_of(fields: &[(String, String)]) -> Option<&str> {
    fields
        .iter()
        .find(|(k, _)| k == "conv")
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn every_entry_reaches_its_conversation_s_timeline_once_in_stream_order() {
    let env = TestEnv::new().await;
    let mine: Vec<_> = fixture_fields("conversations.jsonl")
        .into_iter()
        .filter(|f| conv_of(f) == Some(CONV))
        .collect();
    env.append(&mine).await;
    env.append(&mine[..3]).await;
    let refused = vec![
        ("conv".to_owned(), CONV.to_owned()),
        ("typ".to_owned(), "user_input".to_owned()),
        ("seq".to_owned(), "77".to_owned()),
        ("payload".to_owned(), "{broken".to_owned()),
    ];
    env.append(std::slice::from_ref(&refused)).await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let before = env.store.timeline(CONV, None, 1000).await.unwrap();
    // The same entries applied again (as after a crash between storing and acknowledging
    // them): they are duplicates now, but their first records stand.
    let mut conn = env.conn.clone();
    let stored: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, &env.stream)
            .await
            .unwrap();
    let events: Vec<_> = stored
        .ids
        .iter()
        .filter_map(|e| {
            let raw = billie_dashboard::server::ingest::raw_entry(e).ok()?;
            billie_dashboard::contract::Event::parse(&raw).ok()
        })
        .collect();
    let again = billie_dashboard::server::ingest::apply_events(
        &env.store,
        &env.publisher().await,
        &Default::default(),
        &events,
    )
    .await
    .unwrap();
    assert_eq!(again.len(), mine.len() + 3);

    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = env.store.timeline(CONV, after.as_deref(), 4).await.unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(all, before.items, "pages of 4 make the whole timeline");
    assert_eq!(all.len(), mine.len() + 4);
    let ids: Vec<_> = all.iter().map(|a| a.entry_id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| billie_dashboard::server::store::entry_order(id));
    assert_eq!(ids, sorted, "arrival order");
    let outcomes: Vec<Outcome> = all.iter().map(|a| a.outcome).collect();
    assert!(
        outcomes[..mine.len()]
            .iter()
            .all(|o| *o == Outcome::Applied)
    );
    assert!(
        outcomes[mine.len()..mine.len() + 3]
            .iter()
            .all(|o| *o == Outcome::Duplicate)
    );
    let last = all.last().unwrap();
    assert_eq!(last.outcome, Outcome::Refused);
    assert_eq!(last.seq, Some(77));
    assert!(
        last.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("payload is not JSON")),
        "{last:?}"
    );

    let tail = env.store.timeline_tail(CONV, 5).await.unwrap();
    assert_eq!(tail.items, all[all.len() - 5..]);
    assert_eq!(tail.earlier as usize, all.len() - 5);

    assert!(matches!(
        env.store.timeline(CONV, Some("not-an-id"), 10).await,
        Err(StoreError::BadCursor)
    ));
}

#[tokio::test]
async fn tokens_are_found_by_their_text_until_revoked() {
    let env = TestEnv::new().await;
    let (token, text) = env
        .store
        .create_token("risk engine".into(), "ann@billie.example")
        .await
        .unwrap();
    assert!(text.starts_with("bdt_"));
    let found = env.store.find_token(&text).await.unwrap().unwrap();
    assert_eq!(found.id, token.id);
    assert!(found.revoked_at.is_none());
    assert!(env.store.find_token("bdt_guess").await.unwrap().is_none());
    // The text itself is not stored.
    let stored = env
        .db
        .collection::<mongodb::bson::Document>("api_tokens")
        .find_one(mongodb::bson::doc! {})
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.to_string().contains(&text));

    env.store.touch_token(&found).await.unwrap();
    let used = env.store.find_token(&text).await.unwrap().unwrap();
    assert!(used.last_used_at.is_some());

    let id = token.id.to_hex();
    assert_eq!(
        env.store.revoke_token(&id).await.unwrap().as_deref(),
        Some("risk engine")
    );
    let revoked = env.store.find_token(&text).await.unwrap().unwrap();
    let first = revoked.revoked_at.unwrap();
    env.store.revoke_token(&id).await.unwrap();
    let again = env.store.find_token(&text).await.unwrap().unwrap();
    assert_eq!(
        again.revoked_at,
        Some(first),
        "revoking twice keeps the first time"
    );
    assert_eq!(env.store.revoke_token("0123").await.unwrap(), None);
    assert_eq!(env.store.list_tokens().await.unwrap().len(), 1);
}
