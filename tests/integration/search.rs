//! Search as you type from the tally's index of word beginnings (`Tally::page`),
//! over a real store: pages follow one another without a gap or a repeat, agree with
//! the browser's own test (`ConversationFilter::matches`), and a cursor no list gave is
//! refused.

use std::time::Duration;

use billie_dashboard::api::ConversationFilter;
use billie_dashboard::server::tally::TallyError;

use crate::helpers::{TestEnv, fixture_fields};

#[tokio::test]
async fn a_search_by_word_beginnings_pages_through_every_match_once() {
    let env = TestEnv::new().await;
    env.append(&fixture_fields("conversations.jsonl")).await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let tally = crate::helpers::following_tally(&env);
    for _ in 0..200 {
        if tally.counts().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // "sa" begins Saanvi (two customers) and nothing else in the fixtures' names.
    let everything = env.store.all_summaries().await.unwrap();
    for search in ["sa", "app-6", "APP", "saanvi ro", "a"] {
        let filter = ConversationFilter::parse(Some(search.into()), None).unwrap();
        let want: Vec<&str> = everything
            .iter()
            .filter(|c| filter.matches(c))
            .map(|c| c.id.as_str())
            .collect();
        assert!(!want.is_empty(), "{search} finds something");
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = tally
                .page(&env.store, &filter, cursor.as_deref(), 1, 60_000)
                .await
                .unwrap()
                .expect("the tally has loaded");
            got.extend(page.items.into_iter().map(|c| c.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut sorted_got = got.clone();
        sorted_got.sort();
        sorted_got.dedup();
        assert_eq!(sorted_got.len(), got.len(), "{search}: no repeat");
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(sorted_got, want, "{search}");
    }
    let filter = ConversationFilter::parse(Some("sa".into()), None).unwrap();
    assert!(matches!(
        tally
            .page(&env.store, &filter, Some("not a cursor"), 10, 60_000)
            .await,
        Err(TallyError::Store(_))
    ));
}
