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
async fn failed_sign_ins_are_throttled_per_account_and_per_address() {
    let env = TestEnv::new().await;
    let mut redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();
    let throttle = Throttle::new(&env.stream, 3, 5, Duration::from_secs(60));
    let here = Some("10.0.0.1".parse().unwrap());
    for _ in 0..3 {
        assert_eq!(
            throttle.wait(&mut redis, "ann@x", here).await.unwrap(),
            None
        );
        throttle.failed(&mut redis, "ann@x", here).await.unwrap();
    }
    let wait = throttle
        .wait(&mut redis, "ann@x", here)
        .await
        .unwrap()
        .unwrap();
    assert!(wait <= Duration::from_secs(60) && wait > Duration::ZERO);
    // Another account from the same address is still let through, until the address
    // itself has failed too often.
    let elsewhere = Some("10.0.0.2".parse().unwrap());
    assert_eq!(
        throttle.wait(&mut redis, "bob@x", here).await.unwrap(),
        None
    );
    for _ in 0..2 {
        throttle.failed(&mut redis, "bob@x", here).await.unwrap();
    }
    assert!(
        throttle
            .wait(&mut redis, "cat@x", here)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        throttle.wait(&mut redis, "cat@x", elsewhere).await.unwrap(),
        None
    );
    // The account stays locked from any address; success clears only the account.
    assert!(
        throttle
            .wait(&mut redis, "ann@x", elsewhere)
            .await
            .unwrap()
            .is_some()
    );
    throttle.succeeded(&mut redis, "ann@x").await.unwrap();
    assert_eq!(
        throttle.wait(&mut redis, "ann@x", elsewhere).await.unwrap(),
        None
    );
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
