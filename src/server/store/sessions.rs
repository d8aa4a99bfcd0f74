//! Login sessions in MongoDB, so every web process recognises a signed-in supervisor and
//! a restart signs nobody out. Each record is stored as its JSON form with an expiry.

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

#[async_trait]
impl SessionStore for MongoSessionStore {
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let expires = bson::DateTime::from_millis(
            (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64,
        );
        self.sessions
            .update_one(
                doc! { "_id": record.id.to_string() },
                doc! { "$set": { "data": data, "expires_at": expires } },
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
