//! Accounts against the real stores: ending a user's sessions, never losing the last
//! admin, sign-in throttling in Redis, and the audit log's pages.

use std::time::Duration;

use billie_dashboard::server::auth::{audit_entry, throttle::Throttle};
use billie_dashboard::server::store::{MongoSessionStore, NewUser, Role, UserError};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

use crate::helpers::TestEnv;

fn signed_in(user_id: &str) -> Record {
    let mut data = std::collections::HashMap::new();
    data.insert(
        "axum-login.data".to_owned(),
        serde_json::json!({ "user_id": user_id, "auth_hash": [1, 2, 3] }),
    );
    Record {
        id: Id::default(),
        data,
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

async fn add(env: &TestEnv, email: &str, role: Role) -> String {
    env.store
        .add_user(
            NewUser {
                email: email.into(),
                role,
                password_hash: "hash".into(),
            },
            false,
        )
        .await
        .unwrap()
        .id
        .to_hex()
}

#[tokio::test]
async fn every_session_of_a_user_can_be_ended_at_once() {
    let env = TestEnv::new().await;
    let sessions = MongoSessionStore::new(&env.store);
    let (mut a1, mut a2, mut b) = (signed_in("ann"), signed_in("ann"), signed_in("bob"));
    for record in [&mut a1, &mut a2, &mut b] {
        sessions.create(record).await.unwrap();
    }
    assert_eq!(sessions.end_sessions_of("ann").await.unwrap(), 2);
    assert!(sessions.load(&a1.id).await.unwrap().is_none());
    assert!(sessions.load(&a2.id).await.unwrap().is_none());
    assert!(sessions.load(&b.id).await.unwrap().is_some());
}

#[tokio::test]
async fn admins_demoting_each_other_at_once_leave_one_admin() {
    let env = TestEnv::new().await;
    for round in 0..5 {
        let mut admins = Vec::new();
        for i in 0..4 {
            admins.push(add(&env, &format!("admin{round}.{i}@x.example"), Role::Admin).await);
        }
        // Earlier rounds' admins are gone; each round starts from 4 admins only.
        for earlier in env.store.list_users().await.unwrap() {
            if !admins.contains(&earlier.id.to_hex()) && !earlier.disabled {
                env.store
                    .set_user_disabled(&earlier.id.to_hex(), true)
                    .await
                    .unwrap();
            }
        }
        let changes = admins.iter().enumerate().map(|(i, id)| {
            let store = env.store.clone();
            async move {
                if i % 2 == 0 {
                    store.set_user_role(id, Role::Supervisor).await
                } else {
                    store.set_user_disabled(id, true).await
                }
            }
        });
        let results = futures::future::join_all(changes).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(UserError::LastAdmin)))
            .count();
        assert_eq!(refused, 1, "round {round}: exactly the last one is refused");
        assert!(env.store.has_admin().await.unwrap(), "round {round}");
    }
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_or_demoted() {
    let env = TestEnv::new().await;
    let admin = add(&env, "admin@x.example", Role::Admin).await;
    let supervisor = add(&env, "sup@x.example", Role::Supervisor).await;
    assert!(matches!(
        env.store.set_user_disabled(&admin, true).await,
        Err(UserError::LastAdmin)
    ));
    assert!(matches!(
        env.store.set_user_role(&admin, Role::Supervisor).await,
        Err(UserError::LastAdmin)
    ));
    env.store
        .set_user_role(&supervisor, Role::Admin)
        .await
        .unwrap();
    let disabled = env.store.set_user_disabled(&admin, true).await.unwrap();
    assert!(disabled.disabled);
    assert!(env.store.has_admin().await.unwrap());
    assert!(matches!(
        env.store.set_user_disabled("not-an-id", true).await,
        Err(UserError::NotFound)
    ));
    let named = env
        .store
        .set_user_names(&supervisor, " Aroha ", "")
        .await
        .unwrap();
    assert_eq!(named.full_name().as_deref(), Some("Aroha"));
    assert!(matches!(
        env.store
            .set_user_names(&supervisor, &"x".repeat(101), "")
            .await,
        Err(UserError::NameTooLong)
    ));
}

#[tokio::test]
async fn sign_in_attempts_are_throttled_per_account_and_per_address() {
    use billie_dashboard::server::auth::throttle::Verdict;

    let env = TestEnv::new().await;
    let mut redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();
    let throttle = Throttle::new(&env.stream, 3, 5, Duration::from_secs(60));
    let here = Some("10.0.0.1".parse().unwrap());
    for _ in 0..3 {
        assert_eq!(
            throttle.attempt(&mut redis, "ann@x", here).await.unwrap(),
            Verdict::Allowed
        );
    }
    let Verdict::Refused { wait, first } =
        throttle.attempt(&mut redis, "ann@x", here).await.unwrap()
    else {
        panic!("the fourth attempt is let through");
    };
    assert!(wait <= Duration::from_secs(60) && wait > Duration::ZERO);
    assert!(first, "the window's first refusal is the one audited");
    assert!(matches!(
        throttle.attempt(&mut redis, "ann@x", here).await.unwrap(),
        Verdict::Refused { first: false, .. }
    ));
    // The address has had 5 attempts: another account from it is refused too, while
    // the same account elsewhere stays refused and another one is let through.
    let elsewhere = Some("10.0.0.2".parse().unwrap());
    assert!(matches!(
        throttle.attempt(&mut redis, "bob@x", here).await.unwrap(),
        Verdict::Refused { .. }
    ));
    assert!(matches!(
        throttle
            .attempt(&mut redis, "ann@x", elsewhere)
            .await
            .unwrap(),
        Verdict::Refused { .. }
    ));
    assert_eq!(
        throttle
            .attempt(&mut redis, "cat@x", elsewhere)
            .await
            .unwrap(),
        Verdict::Allowed
    );
    // A success starts the account afresh.
    throttle
        .succeeded(&mut redis, "ann@x", elsewhere)
        .await
        .unwrap();
    assert_eq!(
        throttle
            .attempt(&mut redis, "ann@x", elsewhere)
            .await
            .unwrap(),
        Verdict::Allowed
    );
}

#[tokio::test]
async fn a_burst_of_attempts_lets_no_more_than_the_limit_through() {
    use billie_dashboard::server::auth::throttle::Verdict;

    let env = TestEnv::new().await;
    let redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();
    let throttle = Throttle::new(&env.stream, 5, 20, Duration::from_secs(900));
    // 50 wrong passwords for one account at once, from 50 addresses.
    let attempts = (0..50).map(|n| {
        let (mut redis, throttle) = (redis.clone(), throttle.clone());
        async move {
            let address = Some(format!("10.1.0.{n}").parse().unwrap());
            throttle
                .attempt(&mut redis, "ann@x", address)
                .await
                .unwrap()
        }
    });
    let verdicts = futures::future::join_all(attempts).await;

    let checked = verdicts.iter().filter(|v| **v == Verdict::Allowed).count();
    assert_eq!(checked, 5, "only these reach the password check");
    let audited = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Refused { first: true, .. }))
        .count();
    assert_eq!(audited, 1, "one audit entry for the throttled window");
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let env = TestEnv::new().await;
    for i in 0..7 {
        let mut entry = audit_entry(
            Some("ann@x"),
            "view.conversation",
            Some(&format!("c{i}")),
            None,
        );
        entry.id = mongodb::bson::oid::ObjectId::new();
        env.store.audit(entry).await;
    }
    let (first, next) = env.store.audit_entries(None, 5).await.unwrap();
    assert_eq!(first.len(), 5);
    assert_eq!(first[0].target.as_deref(), Some("c6"));
    let (rest, end) = env.store.audit_entries(next.as_deref(), 5).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|e| e.target.clone().unwrap())
            .collect::<Vec<_>>(),
        ["c1", "c0"]
    );
    assert_eq!(end, None);
    assert!(env.store.audit_entries(Some("bad"), 5).await.is_err());
}
