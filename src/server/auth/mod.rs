//! Who may see the dashboard, and as what. Accounts are checked with axum-login against
//! the `users` collection ([`Backend`]); a signed-in [`User`]'s session is bound to a
//! keyed digest of its password. The rooms: [`guard`] (the gate every request passes),
//! [`form`] (sign-in and sign-out), [`mfa`] (the second step and its enrolment),
//! [`session`] (lifetimes, and what ends a live feed), [`functions`] (what server
//! functions use), [`policy`] (which passwords), [`password`] (hashing), [`throttle`],
//! [`address`] (the client behind a proxy) and [`origin`] (cross-site refusal).

pub mod address;
pub mod form;
pub mod functions;
pub mod guard;
pub mod mfa;
pub mod origin;
pub mod password;
pub mod policy;
pub mod session;
pub mod throttle;

pub use form::{MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, login, logout, safe_next};
pub use functions::{audit_entry, client_address, end_sessions, require_admin, require_user};
pub use guard::guard;

use std::time::Duration;

use axum_login::{AuthSession, AuthUser, AuthnBackend, UserId};
use serde::Deserialize;

use crate::server::config::MfaRequired;
use crate::server::store::{MongoSessionStore, Role, Store, StoreError, UserDoc};
use throttle::Throttle;

/// A signed-in account.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub avatar_version: i64,
    /// Two-step sign-in is on.
    pub mfa: bool,
    /// A keyed digest of the password hash (see [`Backend`]), which sessions are bound to.
    session_digest: Vec<u8>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl User {
    fn new(doc: UserDoc, key: &DigestKey) -> Self {
        Self {
            session_digest: key.digest(doc.password_hash.as_bytes()),
            mfa: doc.mfa.is_some(),
            id: doc.id.to_hex(),
            name: doc.full_name(),
            email: doc.email,
            role: doc.role,
            avatar_version: doc.avatar_version,
        }
    }

    /// What the session is bound to: changes when the password does.
    pub fn session_digest(&self) -> &[u8] {
        &self.session_digest
    }
}

/// The key of the digests kept in session records and sent between processes: derived
/// from `SESSION_SECRET`, so every web process computes the same ones, and a stolen
/// session record tells nothing about the password hash.
#[derive(Clone)]
pub struct DigestKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

impl DigestKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.into())
    }

    /// A key of its own for digests, derived from the session-cookie key `master` (so the
    /// cookie-signing key is used for nothing else).
    pub fn derived(master: &[u8]) -> Self {
        Self::new(&Self::new(master).digest(b"billie.session-digests.v1"))
    }

    /// HMAC-SHA-256 of `data` under this key.
    pub fn digest(&self, data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        // A key of any length is accepted by HMAC; this cannot fail.
        match Hmac::<sha2::Sha256>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }

    /// [`Self::digest`] as 32 hex characters (128 bits), for tags sent as text.
    pub fn tag(&self, data: &[u8]) -> String {
        self.digest(data)
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl AuthUser for User {
    type Id = String;

    fn id(&self) -> String {
        self.id.clone()
    }

    /// Sessions are bound to the password: a new password ends old sessions. The record
    /// keeps a keyed digest, never the argon2 hash itself.
    fn session_auth_hash(&self) -> &[u8] {
        &self.session_digest
    }
}

#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct Backend {
    store: Store,
    key: DigestKey,
}

impl Backend {
    pub fn new(store: Store, key: DigestKey) -> Self {
        Self { store, key }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password check failed: {0}")]
    Hash(String),
    /// Too many sign-ins are waiting for a password check; come back in a moment.
    #[error("too many sign-ins at once")]
    Busy,
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = AuthError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, AuthError> {
        let email = creds.email.trim().to_lowercase();
        let user = self.store.user_by_email(&email).await?;
        // Unknown users get the same hashing work as known ones, so the answer's timing
        // does not tell which emails have accounts.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = password::verify(creds.password, hash).await?;
        Ok(user
            .filter(|u| ok && !u.disabled)
            .map(|u| User::new(u, &self.key)))
    }

    /// A disabled account is nobody: its sessions stop working at once.
    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, AuthError> {
        Ok(self
            .store
            .user_by_id(id)
            .await?
            .filter(|u| !u.disabled)
            .map(|u| User::new(u, &self.key)))
    }
}

pub type Session = AuthSession<Backend>;

/// Security settings the handlers need.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub production: bool,
    /// Absolute session lifetime.
    pub max_session: Duration,
    /// Session lifetime without a request.
    pub idle: Duration,
    /// Keys the session's password digest and the session tags sent between processes.
    pub digests: DigestKey,
    pub throttle: Throttle,
    pub sessions: MongoSessionStore,
    /// Who must sign in with two steps (MFA_REQUIRED).
    pub mfa_required: MfaRequired,
}

impl AuthSettings {
    /// Whether accounts of `role` must sign in with two steps.
    pub fn mfa_required(&self, role: Role) -> bool {
        match self.mfa_required {
            MfaRequired::None => false,
            MfaRequired::Admins => role == Role::Admin,
            MfaRequired::Everyone => true,
        }
    }
}

/// `text` percent-encoded for a query parameter's value, `/` kept readable (`next=`).
pub(crate) fn urlencode(text: &str) -> String {
    const VALUE: &percent_encoding::AsciiSet = &crate::app::QUERY_VALUE.remove(b'/');
    percent_encoding::utf8_percent_encode(text, VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_are_encoded_as_query_values() {
        assert_eq!(
            urlencode("/conversations?q=Zoë & co"),
            "/conversations%3Fq%3DZo%C3%AB%20%26%20co"
        );
    }

    #[test]
    fn sessions_keep_a_keyed_digest_of_the_password_hash() {
        let hash = b"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        let key = DigestKey::derived(b"a session secret of at least 32 bytes");
        let digest = key.digest(hash);
        assert_eq!(digest.len(), 32);
        assert_eq!(digest, key.digest(hash), "the same on every process");
        assert_ne!(digest, DigestKey::derived(b"another secret").digest(hash));
        assert!(!digest.windows(8).any(|w| hash.windows(8).any(|h| h == w)));
        assert_eq!(key.tag(b"session id").len(), 32);
    }
}
