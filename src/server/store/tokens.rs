//! API tokens (`/api/v1`): created by an admin, shown once, stored as their SHA-256
//! digest. A token is 32 random bytes, so a fast digest is enough: there is nothing to
//! guess, unlike a password. Every request looks its token up here, so a revocation
//! takes effect on every web process at once.

use mongodb::bson::{self, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The text every token starts with, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "bdt_";

/// Longest token name.
pub const MAX_TOKEN_NAME: usize = 80;

/// One API token as stored (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    /// Hex SHA-256 of the token's text.
    pub digest: String,
    /// The email of the admin who created it, or `command line`.
    pub created_by: String,
    pub created_at: bson::DateTime,
    pub last_used_at: Option<bson::DateTime>,
    pub revoked_at: Option<bson::DateTime>,
}

/// A token name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenNameError {
    #[error("a token needs a name saying who uses it")]
    Empty,
    #[error("a token name can be at most {MAX_TOKEN_NAME} characters long")]
    TooLong,
}

/// `name`, trimmed, if it can name a token.
pub fn parse_token_name(name: &str) -> Result<String, TokenNameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TokenNameError::Empty);
    }
    if name.chars().count() > MAX_TOKEN_NAME || name.chars().any(char::is_control) {
        return Err(TokenNameError::TooLong);
    }
    Ok(name.to_owned())
}

/// The stored digest of a token's text.
pub fn token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new token's text: the prefix and 32 random bytes.
fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

impl Store {
    fn tokens(&self) -> mongodb::Collection<TokenDoc> {
        self.db.collection("api_tokens")
    }

    pub(super) fn token_index() -> Document {
        doc! { "digest": 1 }
    }

    /// Creates a token named `name` (already parsed); returns it with its text, which is
    /// shown once and never stored.
    pub async fn create_token(
        &self,
        name: String,
        created_by: &str,
    ) -> Result<(TokenDoc, String), StoreError> {
        let text = new_token();
        let token = TokenDoc {
            id: ObjectId::new(),
            name,
            digest: token_digest(&text),
            created_by: created_by.to_owned(),
            created_at: bson::DateTime::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.tokens().insert_one(&token).await?;
        Ok((token, text))
    }

    /// Every token, newest first, revoked ones included.
    pub async fn list_tokens(&self) -> Result<Vec<TokenDoc>, StoreError> {
        let mut cursor = self.tokens().find(doc! {}).sort(doc! { "_id": -1 }).await?;
        let mut tokens = Vec::new();
        while cursor.advance().await? {
            tokens.push(cursor.deserialize_current()?);
        }
        Ok(tokens)
    }

    /// Revokes the token `id`; `None` if there is no such token, else its name.
    pub async fn revoke_token(&self, id: &str) -> Result<Option<String>, StoreError> {
        let Ok(id) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        // Revoking twice keeps the first time.
        self.tokens()
            .update_one(
                doc! { "_id": id, "revoked_at": null },
                doc! { "$set": { "revoked_at": bson::DateTime::now() } },
            )
            .await?;
        Ok(self.find_token_by_id(id).await?.map(|t| t.name))
    }

    /// The token whose text is `text`, revoked or not; `None` if there is none.
    pub async fn find_token(&self, text: &str) -> Result<Option<TokenDoc>, StoreError> {
        Ok(self
            .tokens()
            .find_one(doc! { "digest": token_digest(text) })
            .await?)
    }

    /// The token `id`, revoked or not.
    pub async fn find_token_by_id(&self, id: ObjectId) -> Result<Option<TokenDoc>, StoreError> {
        Ok(self.tokens().find_one(doc! { "_id": id }).await?)
    }

    /// Records that `token` was used now, at most once a minute (a write per request
    /// would cost more than the read it accompanies).
    pub async fn touch_token(&self, token: &TokenDoc) -> Result<(), StoreError> {
        let now = bson::DateTime::now();
        let fresh = token
            .last_used_at
            .is_some_and(|at| now.timestamp_millis() - at.timestamp_millis() < 60_000);
        if !fresh {
            self.tokens()
                .update_one(
                    doc! { "_id": token.id },
                    doc! { "$set": { "last_used_at": now } },
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognisable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_digest(&a).len(), 64);
        assert_ne!(token_digest(&a), token_digest(&b));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_token_name("  risk tool "), Ok("risk tool".to_owned()));
        assert_eq!(parse_token_name("  "), Err(TokenNameError::Empty));
        assert_eq!(
            parse_token_name(&"x".repeat(81)),
            Err(TokenNameError::TooLong)
        );
    }
}
