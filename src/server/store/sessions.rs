//! Login sessions in MongoDB, so every web process recognises a signed-in supervisor and
//! a restart signs nobody out. Each record is stored as its JSON form with an expiry and
//! the signed-in user's id, so every session of a user can be ended at once.

use async_trait::async_trait;
use mongodb::{
    Collection,
    bson::{self, Document, doc},
};
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

#[derive(Debug, Clone)]
pub struct MongoSessionStore {
    sessions: Collection<Document>,
}

impl MongoSessionStore {
    pub fn new(store: &super::Store) -> Self {
        Self {
            sessions: store.sessions(),
        }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The stored form of a record: its JSON, expiry (for queries and clean-up) and user.
fn encode(record: &Record) -> session_store::Result<Document> {
    let data =
        serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let expires =
        bson::DateTime::from_millis((record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64);
    // axum-login keeps `{ "user_id": …, "auth_hash": … }` under its own key.
    let user = record
        .data
        .values()
        .find_map(|v| v.get("user_id").and_then(|id| id.as_str()))
        .map_or(bson::Bson::Null, |id| bson::Bson::String(id.to_owned()));
    Ok(doc! { "data": data, "expires_at": expires, "user_id": user })
}

impl MongoSessionStore {
    /// Ends every session of `user_id` (disabled, or their password changed).
    pub async fn end_sessions_of(&self, user_id: &str) -> Result<u64, mongodb::error::Error> {
        Ok(self
            .sessions
            .delete_many(doc! { "user_id": user_id })
            .await?
            .deleted_count)
    }
}

#[async_trait]
impl SessionStore for MongoSessionStore {
    /// Inserts (never overwrites) a new session, drawing a new id on the rare collision.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let mut stored = encode(record)?;
            stored.insert("_id", record.id.to_string());
            let inserted = self.sessions.insert_one(stored).await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if super::is_duplicate_key(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.sessions
            .update_one(
                doc! { "_id": record.id.to_string() },
                doc! { "$set": encode(record)? },
            )
            .upsert(true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let found = self
            .sessions
            .find_one(
                doc! { "_id": id.to_string(), "expires_at": { "$gt": bson::DateTime::now() } },
            )
            .await
            .map_err(backend)?;
        let Some(doc) = found else {
            return Ok(None);
        };
        let data = doc
            .get_str("data")
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        serde_json::from_str(data)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .map_err(backend)?;
        Ok(())
    }
}
