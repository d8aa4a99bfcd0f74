//! The attention signals the store keeps for each conversation (`api::attention`), in any
//! arrival order, and the sets the tally picks from them: a customer waits from their
//! first unanswered message until Billie replies; a high fraud severity, a failed
//! identity check and a decision's time are read from their registers.

use std::time::Duration;

use billie_dashboard::api::attention::Signals;
use billie_dashboard::api::{Among, ConversationFilter, Status};
use billie_dashboard::server::tally::Tally;

use crate::helpers::{TestEnv, entry, user_input};

fn reply(conv: &str, seq: &str, at: &str) -> Vec<(String, String)> {
    entry(&[
        ("conv", conv),
        ("typ", "assistant_response"),
        ("agt", "broker"),
        ("seq", seq),
        (
            "payload",
            &format!(r#"{{"utterance":"hello","created_at":"{at}"}}"#),
        ),
    ])
}

fn event(conv: &str, seq: &str, typ: &str, payload: &str) -> Vec<(String, String)> {
    entry(&[
        ("conv", conv),
        ("typ", typ),
        ("agt", "broker"),
        ("seq", seq),
        ("payload", payload),
    ])
}

const T0: i64 = 1_796_256_000_000; // 2026-12-03T00:00:00Z

async fn signals(env: &TestEnv, conv: &str) -> Signals {
    let listed = env.store.summaries(&[conv.to_owned()]).await.unwrap();
    let whole = env.store.get_conversation(conv).await.unwrap().unwrap();
    // The list's summary and the whole conversation's agree.
    assert_eq!(listed[conv].signals, whole.summary.signals);
    whole.summary.signals
}

#[tokio::test]
async fn a_wait_runs_from_the_first_unanswered_message_in_any_arrival_order() {
    let env = TestEnv::new().await;
    let mut consumer = env.consumer("c1").await;
    let conv = "attention-wait";
    env.append(&[
        user_input(conv, "3", "2026-12-03T00:00:05Z"),
        user_input(conv, "2", "2026-12-03T00:00:01Z"),
    ])
    .await;
    env.drain(&mut consumer).await;
    assert_eq!(signals(&env, conv).await.waiting_since_ms, Some(T0 + 1_000));

    env.append(&[reply(conv, "4", "2026-12-03T00:00:06Z")])
        .await;
    env.drain(&mut consumer).await;
    assert_eq!(signals(&env, conv).await.waiting_since_ms, None);

    // The customer's next message arrives before an earlier, late reply: still waiting.
    env.append(&[
        user_input(conv, "6", "2026-12-03T00:00:10Z"),
        reply(conv, "5", "2026-12-03T00:00:08Z"),
    ])
    .await;
    env.drain(&mut consumer).await;
    assert_eq!(
        signals(&env, conv).await.waiting_since_ms,
        Some(T0 + 10_000)
    );
}

#[tokio::test]
async fn risks_and_decisions_come_from_their_registers_and_the_tally_picks_them() {
    let env = TestEnv::new().await;
    let mut consumer = env.consumer("c1").await;
    let tally = crate::helpers::following_tally(&env);

    let (fraud, identity, referred) = ("attention-fraud", "attention-id", "attention-ref");
    env.append(&[
        event(
            fraud,
            "1",
            "conversation_started",
            r#"{"application_number":"APP-1"}"#,
        ),
        event(
            fraud,
            "2",
            "fraudCheck_assessment",
            r#"{"severity":"HIGH","final_score":91}"#,
        ),
        event(
            identity,
            "1",
            "conversation_started",
            r#"{"application_number":"APP-2"}"#,
        ),
        event(
            identity,
            "2",
            "identityRisk_assessment",
            r#"{"decision":"FAIL"}"#,
        ),
        event(
            referred,
            "1",
            "conversation_started",
            r#"{"application_number":"APP-3"}"#,
        ),
        event(
            referred,
            "2",
            "final_decision",
            r#"{"decision":"REFERRED"}"#,
        ),
    ])
    .await;
    env.drain(&mut consumer).await;
    assert!(signals(&env, fraud).await.fraud_high);
    assert!(signals(&env, identity).await.identity_failed);
    let decided = signals(&env, referred).await;
    assert!(decided.decided_at_ms.is_some(), "{decided:?}");

    // An older, lower assessment arriving late changes nothing; a newer one does.
    env.append(&[event(
        fraud,
        "1",
        "fraudCheck_assessment",
        r#"{"severity":"LOW"}"#,
    )])
    .await;
    env.drain(&mut consumer).await;
    assert!(signals(&env, fraud).await.fraud_high);

    // The tally's queue holds all three, and a newer low severity takes one out.
    let filter = ConversationFilter {
        among: Some(Among::Attention),
        ..ConversationFilter::default()
    };
    settled(&tally, &env, &filter, &[fraud, identity, referred]).await;
    env.append(&[event(
        fraud,
        "3",
        "fraudCheck_assessment",
        r#"{"severity":"LOW"}"#,
    )])
    .await;
    env.drain(&mut consumer).await;
    settled(&tally, &env, &filter, &[identity, referred]).await;
    let referred_only = ConversationFilter {
        status: Some(Status::Referred),
        ..filter
    };
    settled(&tally, &env, &referred_only, &[referred]).await;
}

/// Waits until the tally's list of `filter` is `want` (any order): it follows the feed.
async fn settled(tally: &Tally, env: &TestEnv, filter: &ConversationFilter, want: &[&str]) {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    let mut got = Vec::new();
    for _ in 0..200 {
        let page = tally.page(&env.store, filter, None, 50, 60_000).await;
        got = page
            .unwrap()
            .unwrap()
            .items
            .into_iter()
            .map(|c| c.id)
            .collect();
        got.sort_unstable();
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the list stayed {got:?}, not {want:?}");
}
