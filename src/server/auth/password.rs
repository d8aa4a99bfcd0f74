//! Password hashing: argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1),
//! always on a blocking thread so a login never stalls the async runtime.
//!
//! At most [`AT_ONCE`] hashes run at a time, the rest wait their turn: a burst of sign-ins
//! (a shift starting, or someone guessing) then costs a bounded share of the cores and of
//! memory, instead of one 19 MiB buffer on each of up to 512 blocking threads, which the
//! allocator keeps afterwards. At most [`WAITING`] more wait: past that the answer is
//! [`AuthError::Busy`] at once (503 with `Retry-After`), so a flood of sign-ins cannot
//! queue real users behind minutes of hashing.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use tokio::sync::Semaphore;

use super::AuthError;

/// Hashes computed at once.
const AT_ONCE: usize = 2;
/// Hashes waiting for a slot, beyond which callers are told to come back. At about
/// 50 ms a hash, the last in line waits under half a second.
pub const WAITING: usize = 16;
static HASHING: Semaphore = Semaphore::const_new(AT_ONCE);
static QUEUE: Semaphore = Semaphore::const_new(AT_ONCE + WAITING);

/// Runs `work` on a blocking thread once a hashing slot is free; refuses at once when
/// the queue is full.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    let _place = QUEUE.try_acquire().map_err(|_| AuthError::Busy)?;
    let _slot = HASHING
        .acquire()
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
}

/// A hash to check against when the account does not exist (see `Backend::authenticate`).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4tWb5RZaBWBwNnZqHk0Bx0XrkWF4oPMV5lnwHBkwyfw";

pub async fn hash(password: String) -> Result<String, AuthError> {
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await
}

/// Argon2id hashes of each of `secrets` (recovery codes), in one turn of the queue.
pub async fn hash_all(secrets: Vec<String>) -> Result<Vec<String>, AuthError> {
    hashing(move || {
        secrets
            .iter()
            .map(|secret| {
                let salt = SaltString::generate(&mut OsRng);
                Argon2::default()
                    .hash_password(secret.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| AuthError::Hash(e.to_string()))
            })
            .collect()
    })
    .await
}

/// The one of `hashes` that `secret` matches, if any, in one turn of the queue.
pub async fn matching(secret: String, hashes: Vec<String>) -> Result<Option<String>, AuthError> {
    hashing(move || {
        Ok(hashes.into_iter().find(|hash| {
            PasswordHash::new(hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok()
            })
        }))
    })
    .await
}

/// Whether `password` matches `hash`; with no hash, does the same work and says no.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, AuthError> {
    hashing(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&hash).map_err(|e| AuthError::Hash(e.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn sign_ins_beyond_the_hashing_slots_wait_their_turn() {
        let h = hash("correct horse battery".into()).await.unwrap();
        let checks = (0..3 * AT_ONCE).map(|i| {
            let password = if i % 2 == 0 {
                "correct horse battery"
            } else {
                "wrong"
            };
            verify(password.into(), Some(h.clone()))
        });
        let results = futures::future::join_all(checks).await;
        let matched: Vec<bool> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            matched,
            (0..3 * AT_ONCE).map(|i| i % 2 == 0).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_refused_at_once() {
        let h = hash("correct horse battery".into()).await.unwrap();
        let flood = 4 * (AT_ONCE + WAITING);
        let checks = (0..flood).map(|_| verify("wrong".into(), Some(h.clone())));
        let results = futures::future::join_all(checks).await;
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(AuthError::Busy)))
            .count();
        let checked = results.iter().filter(|r| matches!(r, Ok(false))).count();
        assert_eq!(busy + checked, flood);
        // Every place is taken on the first poll, before any hash ends (other tests
        // may hold some places too).
        assert!(checked <= AT_ONCE + WAITING, "no more than the queue holds");
        assert!(busy > 0, "the rest is refused at once");
    }
}
