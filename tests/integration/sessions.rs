//! Login sessions stored in MongoDB, shared by every web process.

use billie_dashboard::server::store::MongoSessionStore;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

use crate::helpers::TestEnv;

fn record(id: Id, expires_in: time::Duration) -> Record {
    let mut data = std::collections::HashMap::new();
    data.insert("who".to_owned(), serde_json::json!("ann"));
    Record {
        id,
        data,
        expiry_date: time::OffsetDateTime::now_utc() + expires_in,
    }
}

#[tokio::test]
async fn sessions_are_created_loaded_expired_and_deleted() {
    let env = TestEnv::new().await;
    let store = MongoSessionStore::new(&env.store);

    let mut first = record(Id::default(), time::Duration::hours(1));
    store.create(&mut first).await.unwrap();
    let loaded = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, first.data);

    // A colliding id is replaced, never overwriting the existing session.
    let mut clash = record(first.id, time::Duration::hours(1));
    clash.data.insert("who".into(), serde_json::json!("bob"));
    store.create(&mut clash).await.unwrap();
    assert_ne!(clash.id, first.id);
    assert_eq!(
        store.load(&first.id).await.unwrap().unwrap().data["who"],
        "ann"
    );

    let mut expired = record(Id::default(), time::Duration::seconds(-1));
    store.create(&mut expired).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_none());

    store.delete(&first.id).await.unwrap();
    assert!(store.load(&first.id).await.unwrap().is_none());
}
