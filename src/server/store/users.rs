//! Dashboard accounts. Passwords arrive here already hashed (see `auth::password`).
//! Avatars live in their own collection, so loading the signed-in user on every request
//! stays small.

use mongodb::bson::{self, Binary, Document, doc, oid::ObjectId, spec::BinarySubtype};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, is_duplicate_key};

/// The lock document serialising changes that can take an admin away.
const ADMIN_LOCK: &str = "admins";
/// How long a lock holder may hold it before others may take it (a change takes
/// milliseconds; this covers a holder that died).
const ADMIN_LOCK_LEASE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a change waits for the lock before giving up.
const ADMIN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub use crate::api::Role;

/// `text` as a role, or an error naming the roles there are.
pub fn parse_role(text: &str) -> Result<Role, UserError> {
    Role::parse(text).ok_or_else(|| UserError::UnknownRole(text.trim().to_owned()))
}

/// A stored account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: bson::DateTime,
    /// A disabled account cannot sign in, and its sessions are ended.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    /// Grows with every new avatar (0: none), so its URL changes and caches refresh.
    #[serde(default)]
    pub avatar_version: i64,
    /// Two-step sign-in, once enrolled (see `auth::mfa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaDoc>,
    /// A TOTP secret shown for enrolment, not yet confirmed with a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_pending: Option<String>,
}

/// An account's two-step sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub struct MfaDoc {
    /// The TOTP secret, base32.
    pub secret: String,
    /// Digests of the recovery codes not used yet.
    pub recovery: Vec<String>,
    /// The last TOTP time step accepted: a code is accepted once.
    pub last_step: i64,
    pub enrolled_at: bson::DateTime,
}

impl std::fmt::Debug for MfaDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaDoc")
            .field("recovery_left", &self.recovery.len())
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl UserDoc {
    /// First and last name, if the user gave any.
    pub fn full_name(&self) -> Option<String> {
        let name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!name.is_empty()).then_some(name)
    }
}

/// An account to create: the email is normalised, the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("'{0}' is not an email address")]
    InvalidEmail(String),
    #[error("unknown role '{0}': use admin or supervisor")]
    UnknownRole(String),
    #[error("the password must be at least 12 characters long")]
    PasswordTooShort,
    #[error("the password must be at most 128 characters long")]
    PasswordTooLong,
    #[error("a user with email {0} exists already (use --replace to reset it)")]
    Exists(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("cannot read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("no such user")]
    NotFound,
    #[error("the last active admin cannot be disabled or lose the admin role")]
    LastAdmin,
    #[error("another change to an admin is under way: try again")]
    AdminChangeBusy,
    #[error("a name can be at most 100 characters long")]
    NameTooLong,
    #[error("the demo password cannot be used in production")]
    DemoPassword,
    #[error("that password is one of the most common ones: choose another")]
    CommonPassword,
    #[error("the password must not contain the email address")]
    ContainsEmail,
    #[error("the password must not contain billie, supervisor or dashboard")]
    ContextWord,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Start(#[from] super::StartError),
}

/// Lower-cased, trimmed email; refuses anything without one `@` between non-empty parts.
pub fn normalise_email(text: &str) -> Result<String, UserError> {
    let email = text.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace) =>
        {
            Ok(email)
        }
        _ => Err(UserError::InvalidEmail(text.trim().to_owned())),
    }
}

impl Store {
    /// Creates an account; with `replace`, an existing account of that email gets the new
    /// role and password instead.
    pub async fn add_user(&self, new: NewUser, replace: bool) -> Result<UserDoc, UserError> {
        let users = self.users();
        if let Some(existing) = self.user_by_email(&new.email).await? {
            if !replace {
                return Err(UserError::Exists(new.email));
            }
            users
                .update_one(
                    doc! { "_id": existing.id },
                    doc! { "$set": {
                        "role": new.role.as_str(),
                        "password_hash": &new.password_hash,
                    } },
                )
                .await
                .map_err(StoreError::from)?;
            return Ok(UserDoc {
                role: new.role,
                password_hash: new.password_hash,
                ..existing
            });
        }
        let user = UserDoc {
            id: ObjectId::new(),
            email: new.email,
            role: new.role,
            password_hash: new.password_hash,
            created_at: bson::DateTime::now(),
            disabled: false,
            first_name: None,
            last_name: None,
            avatar_version: 0,
            mfa: None,
            mfa_pending: None,
        };
        users.insert_one(&user).await.map_err(StoreError::from)?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserDoc>, StoreError> {
        Ok(self.users().find_one(doc! { "email": email }).await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserDoc>, StoreError> {
        let Ok(id) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        Ok(self.users().find_one(doc! { "_id": id }).await?)
    }

    /// Every account, by email.
    pub async fn list_users(&self) -> Result<Vec<UserDoc>, StoreError> {
        let mut cursor = self.users().find(doc! {}).sort(doc! { "email": 1 }).await?;
        let mut users = Vec::new();
        while cursor.advance().await? {
            users.push(cursor.deserialize_current()?);
        }
        Ok(users)
    }

    /// Whether an active admin account exists.
    pub async fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(self
            .users()
            .find_one(doc! { "role": "admin", "disabled": { "$ne": true } })
            .await?
            .is_some())
    }

    /// Changes an account, refusing to leave no active admin; returns it as it now is.
    /// A change that can take an admin away runs under the admin lock (see
    /// [`Self::admin_lock`]): two admins demoting each other at once would each see the
    /// other still active, and both would succeed.
    async fn update_user(&self, id: &str, set: Document) -> Result<UserDoc, UserError> {
        let oid = ObjectId::parse_str(id).map_err(|_| UserError::NotFound)?;
        let takes_admin_away =
            set.get_bool("disabled") == Ok(true) || set.get_str("role").is_ok_and(|r| r != "admin");
        if !takes_admin_away {
            return self.set_fields(oid, set).await;
        }
        let lock = self.admin_lock().await?;
        let result = self.take_admin_away(oid, set).await;
        self.admin_unlock(lock).await;
        result
    }

    async fn take_admin_away(&self, oid: ObjectId, set: Document) -> Result<UserDoc, UserError> {
        let others = self
            .users()
            .find_one(doc! {
                "_id": { "$ne": oid },
                "role": "admin",
                "disabled": { "$ne": true },
            })
            .await
            .map_err(StoreError::from)?;
        let this = self
            .users()
            .find_one(doc! { "_id": oid })
            .await
            .map_err(StoreError::from)?
            .ok_or(UserError::NotFound)?;
        if others.is_none() && this.role == Role::Admin && !this.disabled {
            return Err(UserError::LastAdmin);
        }
        self.set_fields(oid, set).await
    }

    async fn set_fields(&self, oid: ObjectId, set: Document) -> Result<UserDoc, UserError> {
        self.users()
            .find_one_and_update(doc! { "_id": oid }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::from)?
            .ok_or(UserError::NotFound)
    }

    /// Takes the lock every change that can take an admin away holds: one conditional
    /// write on a document of its own, free when nobody holds it or its holder's lease
    /// ran out (a process that died holding it). Waits up to [`ADMIN_LOCK_WAIT`].
    async fn admin_lock(&self) -> Result<ObjectId, UserError> {
        let token = ObjectId::new();
        let deadline = std::time::Instant::now() + ADMIN_LOCK_WAIT;
        let mut backoff = crate::backoff::Backoff::new(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(100),
        );
        loop {
            let now = bson::DateTime::now();
            let until = bson::DateTime::from_millis(
                now.timestamp_millis() + ADMIN_LOCK_LEASE.as_millis() as i64,
            );
            let taken = self
                .locks()
                .update_one(
                    doc! { "_id": ADMIN_LOCK, "$or": [
                        { "holder": null },
                        { "until": { "$lt": now } },
                    ] },
                    doc! { "$set": { "holder": token, "until": until } },
                )
                .upsert(true)
                .await;
            match taken {
                Ok(_) => return Ok(token),
                // Held: the upsert's insert collides with the held document.
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(StoreError::from(e).into()),
            }
            if std::time::Instant::now() >= deadline {
                return Err(UserError::AdminChangeBusy);
            }
            tokio::time::sleep(backoff.delay(rand::random())).await;
        }
    }

    async fn admin_unlock(&self, token: ObjectId) {
        let released = self
            .locks()
            .update_one(
                doc! { "_id": ADMIN_LOCK, "holder": token },
                doc! { "$set": { "holder": null } },
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "admin lock not released; its lease ends it");
        }
    }

    fn locks(&self) -> mongodb::Collection<Document> {
        self.db.collection("locks")
    }

    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<UserDoc, UserError> {
        self.update_user(id, doc! { "disabled": disabled }).await
    }

    pub async fn set_user_role(&self, id: &str, role: Role) -> Result<UserDoc, UserError> {
        self.update_user(id, doc! { "role": role.as_str() }).await
    }

    pub async fn set_user_password(&self, id: &str, hash: &str) -> Result<UserDoc, UserError> {
        self.update_user(id, doc! { "password_hash": hash }).await
    }

    pub async fn set_user_names(
        &self,
        id: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<UserDoc, UserError> {
        let clean = |s: &str| -> Result<bson::Bson, UserError> {
            let s = s.trim();
            if s.chars().count() > 100 {
                return Err(UserError::NameTooLong);
            }
            Ok(if s.is_empty() {
                bson::Bson::Null
            } else {
                bson::Bson::String(s.to_owned())
            })
        };
        self.update_user(
            id,
            doc! { "first_name": clean(first_name)?, "last_name": clean(last_name)? },
        )
        .await
    }

    /// Keeps `secret` as the account's enrolment in progress (replacing any earlier one).
    pub async fn set_mfa_pending(&self, id: &str, secret: &str) -> Result<(), UserError> {
        let oid = ObjectId::parse_str(id).map_err(|_| UserError::NotFound)?;
        self.users()
            .update_one(
                doc! { "_id": oid },
                doc! { "$set": { "mfa_pending": secret } },
            )
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Completes the enrolment of `secret`, if it is still the one in progress; whether
    /// it was.
    pub async fn confirm_mfa(
        &self,
        id: &str,
        secret: &str,
        recovery: Vec<String>,
        step: i64,
    ) -> Result<bool, UserError> {
        let oid = ObjectId::parse_str(id).map_err(|_| UserError::NotFound)?;
        let mfa = bson::to_bson(&MfaDoc {
            secret: secret.to_owned(),
            recovery,
            last_step: step,
            enrolled_at: bson::DateTime::now(),
        })
        .map_err(|e| StoreError::Write(e.to_string()))?;
        let done = self
            .users()
            .update_one(
                doc! { "_id": oid, "mfa_pending": secret },
                doc! { "$set": { "mfa": mfa }, "$unset": { "mfa_pending": "" } },
            )
            .await
            .map_err(StoreError::from)?;
        Ok(done.modified_count == 1)
    }

    /// Accepts TOTP time step `step` for the account if no later or equal one was: a
    /// code is good once, even when two sign-ins race with it.
    pub async fn use_totp_step(&self, id: ObjectId, step: i64) -> Result<bool, StoreError> {
        let done = self
            .users()
            .update_one(
                doc! { "_id": id, "mfa.last_step": { "$lt": step } },
                doc! { "$set": { "mfa.last_step": step } },
            )
            .await?;
        Ok(done.modified_count == 1)
    }

    /// Spends the recovery code of digest `digest`; whether it was there to spend.
    pub async fn use_recovery_code(&self, id: ObjectId, digest: &str) -> Result<bool, StoreError> {
        let done = self
            .users()
            .update_one(
                doc! { "_id": id, "mfa.recovery": digest },
                doc! { "$pull": { "mfa.recovery": digest } },
            )
            .await?;
        Ok(done.modified_count == 1)
    }

    /// Turns two-step sign-in off for the account (an admin's reset, or the user's own
    /// choice); the account as it now is.
    pub async fn reset_mfa(&self, id: &str) -> Result<UserDoc, UserError> {
        let oid = ObjectId::parse_str(id).map_err(|_| UserError::NotFound)?;
        self.users()
            .find_one_and_update(
                doc! { "_id": oid },
                doc! { "$unset": { "mfa": "", "mfa_pending": "" } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(StoreError::from)?
            .ok_or(UserError::NotFound)
    }

    /// Stores a (validated) avatar image for the user.
    pub async fn set_avatar(
        &self,
        id: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), UserError> {
        let oid = ObjectId::parse_str(id).map_err(|_| UserError::NotFound)?;
        self.avatars()
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "content_type": content_type,
                    "data": Binary { subtype: BinarySubtype::Generic, bytes },
                } },
            )
            .upsert(true)
            .await
            .map_err(StoreError::from)?;
        self.users()
            .update_one(
                doc! { "_id": oid },
                doc! { "$inc": { "avatar_version": 1_i64 } },
            )
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// The user's avatar: its content type and bytes.
    pub async fn avatar(&self, id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let Some(doc) = self.avatars().find_one(doc! { "_id": id }).await? else {
            return Ok(None);
        };
        let content_type = doc.get_str("content_type").unwrap_or_default().to_owned();
        let bytes = doc.get_binary_generic("data").cloned().unwrap_or_default();
        Ok(Some((content_type, bytes)))
    }

    fn avatars(&self) -> mongodb::Collection<Document> {
        self.db.collection("avatars")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a@b@c", "a b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn roles_parse() {
        assert_eq!(parse_role("Supervisor").unwrap(), Role::Supervisor);
        assert!(matches!(parse_role("root"), Err(UserError::UnknownRole(r)) if r == "root"));
    }
}
