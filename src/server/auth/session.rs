//! How long a session lives, and what ends it. A session ends after `SESSION_IDLE_*`
//! without a request (each request slides that deadline; the record is rewritten at most
//! once a minute, not on every request) and, however active, `SESSION_MAX_HOURS` after
//! sign-in. A live feed is not a request: a socket lives until its session's deadline,
//! re-checks its session at least once a minute (so a lost notice cannot keep it open),
//! and is closed at once on every web process by a notice when its session is signed out
//! or its account disabled, demoted or given a new password ([`Ended`]).

use std::time::Duration;

use mongodb::bson;

use super::{DigestKey, Session};

/// Session key holding the sign-in time (epoch ms), for the absolute lifetime.
pub const SIGNED_IN_AT: &str = "billie.signed_in_at";
/// Session key holding the time of the last request that slid the idle deadline.
const SEEN_AT: &str = "billie.seen_at";

/// The session cookie's name: `__Host-` prefixed when `Secure`, so the browser holds it
/// to this host, path `/`, HTTPS only, and no subdomain can plant one.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-billie_session"
    } else {
        "billie_session"
    }
}

pub fn now_ms() -> i64 {
    bson::DateTime::now().timestamp_millis()
}

/// Whether a session signed in at `signed_in_at` (epoch ms; 0 if unknown) has outlived
/// `max` at `now`.
pub fn past_lifetime(signed_in_at: i64, now: i64, max: Duration) -> bool {
    now.saturating_sub(signed_in_at) > max.as_millis() as i64
}

/// How often a request rewrites its session to slide the idle deadline: once a minute,
/// or a quarter of a shorter idle timeout.
pub fn touch_every(idle: Duration) -> Duration {
    (idle / 4).min(Duration::from_secs(60))
}

/// Whether a request at `now` should rewrite a session last slid at `seen_at`.
fn needs_touch(seen_at: i64, now: i64, every: Duration) -> bool {
    now.saturating_sub(seen_at) >= every.as_millis() as i64
}

/// What the guard does with a signed-in session on each request: ends it past its
/// absolute lifetime, or slides its idle deadline when a minute has passed.
pub async fn keep_alive(session: &mut Session, idle: Duration, max: Duration) {
    let now = now_ms();
    let read = |key: &'static str| {
        let session = session.session.clone();
        async move { session.get::<i64>(key).await.ok().flatten() }
    };
    let signed_in_at = read(SIGNED_IN_AT).await.unwrap_or(0);
    if past_lifetime(signed_in_at, now, max) {
        if let Err(e) = session.logout().await {
            tracing::error!(error = %e, "could not end an expired session");
        }
        return;
    }
    let seen_at = read(SEEN_AT).await.unwrap_or(signed_in_at);
    // Writing the value marks the session changed: it is saved with a new expiry.
    if needs_touch(seen_at, now, touch_every(idle))
        && let Err(e) = session.session.insert(SEEN_AT, now).await
    {
        tracing::warn!(error = %e, "session idle deadline not slid");
    }
}

/// The moment (epoch ms) a session ends: its idle expiry or its absolute end, whichever
/// comes first.
pub fn deadline_ms(expires_ms: i64, signed_in_at: i64, max: Duration) -> i64 {
    expires_ms.min(signed_in_at.saturating_add(max.as_millis() as i64))
}

/// A notice, sent to every web process, that sessions ended: each closes the live feeds
/// they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every session of this user id (disabled, demoted, new password).
    User(String),
    /// One session, by its tag ([`session_tag`]): signed out.
    Session(String),
    /// Every session of this user id is still signed in, but with another role: the
    /// feeds close so that each page is loaded again as the new role sees it.
    Changed(String),
}

impl Ended {
    pub fn encode(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Session(tag) => format!("session:{tag}"),
            Self::Changed(id) => format!("changed:{id}"),
        }
    }

    /// A notice's text; a bare id (the form older processes send) is a user's.
    pub fn decode(text: &str) -> Self {
        if let Some(tag) = text.strip_prefix("session:") {
            Self::Session(tag.to_owned())
        } else if let Some(id) = text.strip_prefix("changed:") {
            Self::Changed(id.to_owned())
        } else {
            Self::User(text.strip_prefix("user:").unwrap_or(text).to_owned())
        }
    }

    /// Whether this notice ends the feed of `user`'s session tagged `tag`.
    pub fn ends(&self, user: &str, tag: Option<&str>) -> bool {
        match self {
            Self::User(id) | Self::Changed(id) => id == user,
            Self::Session(ended) => tag == Some(ended.as_str()),
        }
    }
}

/// A session's id as sent between processes: a keyed digest, since the id itself is
/// what the cookie carries.
pub fn session_tag(key: &DigestKey, id: &tower_sessions::session::Id) -> String {
    key.tag(id.to_string().as_bytes())
}

/// What a live feed knows of the session it serves, to re-check it.
#[derive(Debug, Clone)]
pub struct FeedSession {
    pub user: String,
    role: crate::server::store::Role,
    digest: Vec<u8>,
    id: Option<tower_sessions::session::Id>,
    /// The session's tag, matched against [`Ended::Session`] notices.
    pub tag: Option<String>,
}

/// What a re-check of a feed's session found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Valid until this moment (epoch ms).
    Until(i64),
    /// Ended: signed out, expired, the account disabled or given a new password.
    Ended,
    /// The account's role changed: the page must be loaded again.
    Changed,
    /// The store could not say; try again later.
    Unknown,
}

impl FeedSession {
    pub fn of(session: &Session, digests: &DigestKey) -> Option<Self> {
        let user = session.user.as_ref()?;
        let id = session.session.id();
        Some(Self {
            user: user.id.clone(),
            role: user.role,
            digest: user.session_digest().to_vec(),
            tag: id.map(|id| session_tag(digests, &id)),
            id,
        })
    }

    /// Reads the session record and the account again.
    pub async fn check(
        &self,
        auth: &super::AuthSettings,
        store: &crate::server::store::Store,
    ) -> Check {
        use tower_sessions::SessionStore;
        let Some(id) = self.id else {
            return Check::Ended;
        };
        let record = match auth.sessions.load(&id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Check::Ended,
            Err(e) => {
                tracing::warn!(error = %e, "live feed: session not re-checked");
                return Check::Unknown;
            }
        };
        let user = match store.user_by_id(&self.user).await {
            Ok(Some(user)) if !user.disabled => user,
            Ok(_) => return Check::Ended,
            Err(e) => {
                tracing::warn!(error = %e, "live feed: account not re-checked");
                return Check::Unknown;
            }
        };
        if auth.digests.digest(user.password_hash.as_bytes()) != self.digest {
            return Check::Ended;
        }
        if user.role != self.role {
            return Check::Changed;
        }
        let signed_in_at = record
            .data
            .get(SIGNED_IN_AT)
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let expires_ms = (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64;
        let deadline = deadline_ms(expires_ms, signed_in_at, auth.max_session);
        if deadline <= now_ms() {
            Check::Ended
        } else {
            Check::Until(deadline)
        }
    }
}

/// How often a live feed re-checks its session: once a minute, or half a shorter idle
/// timeout.
pub fn recheck_every(idle: Duration) -> Duration {
    (idle / 2).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secure_cookie_is_host_prefixed() {
        assert_eq!(cookie_name(true), "__Host-billie_session");
        assert_eq!(cookie_name(false), "billie_session");
    }

    #[test]
    fn sessions_end_at_their_absolute_lifetime() {
        let hour = Duration::from_secs(3600);
        let signed_in = 1_000_000_000_000;
        assert!(!past_lifetime(signed_in, signed_in + 3_600_000, hour));
        assert!(past_lifetime(signed_in, signed_in + 3_600_001, hour));
        assert!(past_lifetime(0, signed_in, hour), "no sign-in time: ended");
    }

    #[test]
    fn the_idle_deadline_slides_at_most_once_a_minute() {
        let idle = Duration::from_secs(30 * 60);
        assert_eq!(touch_every(idle), Duration::from_secs(60));
        assert_eq!(touch_every(Duration::from_secs(8)), Duration::from_secs(2));
        let every = touch_every(idle);
        assert!(!needs_touch(1_000, 1_000 + 59_999, every));
        assert!(needs_touch(1_000, 1_000 + 60_000, every));
    }

    #[test]
    fn the_deadline_is_the_nearer_end() {
        let max = Duration::from_secs(10);
        assert_eq!(deadline_ms(5_000, 0, max), 5_000);
        assert_eq!(deadline_ms(50_000, 0, max), 10_000);
    }

    #[test]
    fn notices_say_whose_feeds_end() {
        for notice in [
            Ended::User("u1".into()),
            Ended::Session("t1".into()),
            Ended::Changed("u1".into()),
        ] {
            assert_eq!(Ended::decode(&notice.encode()), notice);
        }
        assert_eq!(Ended::decode("u1"), Ended::User("u1".into()));
        assert!(Ended::User("u1".into()).ends("u1", Some("t9")));
        assert!(!Ended::User("u1".into()).ends("u2", Some("t1")));
        assert!(Ended::Session("t1".into()).ends("u2", Some("t1")));
        assert!(!Ended::Session("t1".into()).ends("u1", Some("t2")));
        assert!(!Ended::Session("t1".into()).ends("u1", None));
        assert!(Ended::Changed("u1".into()).ends("u1", None));
    }
}
