//! The audit log: who signed in (or failed to), who changed which account, and which
//! supervisor opened which conversation or customer, with time and address. Written by
//! the web side only, read on an admin page. A failure to write it is logged, never shown
//! to the user: the action itself has happened.

use mongodb::bson::{self, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One audited action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub at: bson::DateTime,
    /// The signed-in user's email, or the email tried at a failed sign-in.
    pub actor: Option<String>,
    /// e.g. `login.success`, `user.disable`, `view.conversation`.
    pub action: String,
    /// What the action was on: an account's email, a conversation or customer id.
    pub target: Option<String>,
    /// The client's IP address.
    pub address: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.audit_log().insert_one(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "audit entry not written");
        }
    }

    /// Entries newest first, older than `before` (an entry id).
    pub async fn audit_entries(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let mut filter = Document::new();
        if let Some(before) = before {
            let id = ObjectId::parse_str(before).map_err(|_| StoreError::BadCursor)?;
            filter.insert("_id", doc! { "$lt": id });
        }
        let limit = limit.clamp(1, 500);
        let mut cursor = self
            .audit_log()
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(limit as i64 + 1)
            .await?;
        let mut entries = Vec::with_capacity(limit + 1);
        while cursor.advance().await? {
            entries.push(cursor.deserialize_current()?);
        }
        let next = (entries.len() > limit).then(|| {
            entries.truncate(limit);
            entries.last().map(|e| e.id.to_hex())
        });
        Ok((entries, next.flatten()))
    }

    fn audit_log(&self) -> mongodb::Collection<AuditEntry> {
        self.db.collection("audit")
    }
}
