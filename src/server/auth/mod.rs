//! Who may see the dashboard, and as what. Accounts are checked with axum-login against
//! the `users` collection. Every page, server function and the live feed goes through
//! [`guard`] (anonymous callers refused, sessions past their absolute lifetime ended,
//! admin pages for admins only), so a new route is protected without remembering to be;
//! [`require_user`] and [`require_admin`] do the same for server functions.

pub mod address;
pub mod origin;
pub mod password;
pub mod throttle;

use std::net::IpAddr;
use std::time::Duration;

use axum::{
    Extension, Form,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_login::{AuthSession, AuthUser, AuthnBackend, UserId};
use leptos::prelude::ServerFnError;
use mongodb::bson;
use serde::Deserialize;

use crate::server::config::DEMO_PASSWORD;
use crate::server::startup::AppState;
use crate::server::store::{AuditEntry, MongoSessionStore, Role, Store, StoreError, UserDoc};
use address::ClientAddress;
use throttle::Throttle;

/// A signed-in account.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub avatar_version: i64,
    password_hash: String,
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

impl From<UserDoc> for User {
    fn from(doc: UserDoc) -> Self {
        Self {
            id: doc.id.to_hex(),
            name: doc.full_name(),
            email: doc.email,
            role: doc.role,
            avatar_version: doc.avatar_version,
            password_hash: doc.password_hash,
        }
    }
}

impl AuthUser for User {
    type Id = String;

    fn id(&self) -> String {
        self.id.clone()
    }

    /// Sessions are bound to the password hash: a new password ends old sessions.
    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
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
}

impl Backend {
    pub fn new(store: Store) -> Self {
        Self { store }
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

/// Seconds a caller refused with [`AuthError::Busy`] is asked to wait.
const BUSY_RETRY_SECS: &str = "5";

/// The answer to a sign-in refused because the password checks are all taken.
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, BUSY_RETRY_SECS)],
        Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Busy</title></head>\
             <body><main><h1>Sign-in is busy</h1><p>Too many sign-ins at once. Try again in a few seconds.</p>\
             <p><a href=\"/login\">Back to sign in</a></p></main></body></html>",
        ),
    )
        .into_response()
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
        Ok(user.filter(|u| ok && !u.disabled).map(User::from))
    }

    /// A disabled account is nobody: its sessions stop working at once.
    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, AuthError> {
        Ok(self
            .store
            .user_by_id(id)
            .await?
            .filter(|u| !u.disabled)
            .map(User::from))
    }
}

pub type Session = AuthSession<Backend>;

/// Security settings the handlers need.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub production: bool,
    /// Absolute session lifetime.
    pub max_session: Duration,
    pub throttle: Throttle,
    pub sessions: MongoSessionStore,
}

/// Session key holding the sign-in time (epoch ms), for the absolute lifetime.
const SIGNED_IN_AT: &str = "billie.signed_in_at";

fn now_ms() -> i64 {
    bson::DateTime::now().timestamp_millis()
}

/// Paths anyone may fetch: the login page and form, static files, and the operations
/// endpoints (which show no customer data).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/logout" | "/healthz" | "/readyz" | "/metrics" | "/favicon.svg"
    ) || path.starts_with("/pkg/")
}

/// Pages and server functions only admins may use.
fn is_admin_only(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/") || path.starts_with("/api/admin/")
}

/// Refuses anonymous requests: pages redirect to the login page (remembering where the
/// user was going), everything else (server functions, the live feed) gets 401. Ends a
/// session past its absolute lifetime, and keeps admin paths for admins.
pub async fn guard(
    State(state): State<AppState>,
    mut session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if session.user.is_some() {
        let signed_in_at = session
            .session
            .get::<i64>(SIGNED_IN_AT)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if past_lifetime(signed_in_at, now_ms(), state.auth.max_session)
            && let Err(e) = session.logout().await
        {
            tracing::error!(error = %e, "could not end an expired session");
        }
    }
    match &session.user {
        Some(user) if is_admin_only(&path) && user.role != Role::Admin => forbidden(&path),
        Some(_) => next.run(request).await,
        None if is_public(&path) => next.run(request).await,
        None => refuse_anonymous(&request),
    }
}

/// Whether a session signed in at `signed_in_at` (epoch ms; 0 if unknown) has outlived
/// `max` at `now`.
fn past_lifetime(signed_in_at: i64, now: i64, max: Duration) -> bool {
    now.saturating_sub(signed_in_at) > max.as_millis() as i64
}

fn refuse_anonymous(request: &Request) -> Response {
    let path = request.uri().path();
    let wants_page = path != "/ws"
        && !path.starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"));
    if wants_page {
        let target = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let to = format!("/login?next={}", urlencode(target));
        Redirect::to(&to).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "sign in first").into_response()
    }
}

fn forbidden(path: &str) -> Response {
    if path.starts_with("/api/") {
        return (StatusCode::FORBIDDEN, "admins only").into_response();
    }
    (
        StatusCode::FORBIDDEN,
        Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed</title></head>\
             <body><main><h1>Not allowed</h1><p>This page is for admins.</p>\
             <p><a href=\"/conversations\">Back to the conversations</a></p></main></body></html>",
        ),
    )
        .into_response()
}

/// For `#[server]` functions: the app state and the caller, once signed in.
pub async fn require_user() -> Result<(AppState, User), ServerFnError> {
    let session = leptos_axum::extract::<Session>().await?;
    let Some(user) = session.user else {
        set_status(StatusCode::UNAUTHORIZED);
        return Err(ServerFnError::new("sign in first"));
    };
    let state = leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))?;
    Ok((state, user))
}

/// For admin `#[server]` functions: as [`require_user`], for admins only.
pub async fn require_admin() -> Result<(AppState, User), ServerFnError> {
    let (state, user) = require_user().await?;
    if user.role != Role::Admin {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("admins only"));
    }
    Ok((state, user))
}

fn set_status(status: StatusCode) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// The caller's address (see [`address`]), inside a server function.
pub async fn client_address() -> Option<IpAddr> {
    leptos_axum::extract::<Extension<ClientAddress>>()
        .await
        .ok()
        .map(|Extension(ClientAddress(address))| address)
}

/// An audit entry of `action` by `actor`.
pub fn audit_entry(
    actor: Option<&str>,
    action: &str,
    target: Option<&str>,
    address: Option<IpAddr>,
) -> AuditEntry {
    AuditEntry {
        id: bson::oid::ObjectId::new(),
        at: bson::DateTime::now(),
        actor: actor.map(str::to_owned),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        address: address.map(|a| a.to_string()),
        detail: None,
    }
}

/// The longest email address a mailbox can have (RFC 5321's path limit, less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest password accepted: far beyond any passphrase, short of costing the hash.
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a plain form post, so signing in works before (or without) WASM.
/// Throttled per account and per address; unknown accounts, wrong passwords and disabled
/// accounts get the same answer.
pub async fn login(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    mut session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next);
    let address = Some(client);
    let back = |error: &str| {
        let to = format!("/login?error={error}&next={}", urlencode(next));
        Redirect::to(&to).into_response()
    };
    // Bounded before any work (an unbounded email would also grow the audit log).
    if form.email.trim().chars().count() > MAX_EMAIL_CHARS
        || form.password.chars().count() > MAX_PASSWORD_CHARS
    {
        return back("too_long");
    }
    let email = form.email.trim().to_lowercase();
    let mut redis = state.redis.clone();
    let throttle = &state.auth.throttle;
    match throttle.attempt(&mut redis, &email, address).await {
        Ok(throttle::Verdict::Refused { wait, first }) => {
            if first {
                state
                    .store
                    .audit(audit_entry(Some(&email), "login.throttled", None, address))
                    .await;
            }
            let to = format!(
                "/login?error=throttled&wait={}&next={}",
                urlencode(&throttle::minutes(wait)),
                urlencode(next)
            );
            return Redirect::to(&to).into_response();
        }
        Ok(throttle::Verdict::Allowed) => {}
        Err(e) => {
            tracing::error!(error = %e, "sign-in throttle unavailable");
            return back("unavailable");
        }
    }
    let demo = state.auth.production && form.password == DEMO_PASSWORD;
    let creds = Credentials {
        email: email.clone(),
        password: form.password,
    };
    let user = match session.authenticate(creds).await {
        Ok(Some(user)) if !demo => user,
        // The attempt is counted already.
        Ok(_) => {
            let mut entry = audit_entry(Some(&email), "login.failure", None, address);
            entry.detail = demo.then(|| "the demo password is refused in production".into());
            state.store.audit(entry).await;
            return back("invalid");
        }
        Err(axum_login::Error::Backend(AuthError::Busy)) => {
            tracing::warn!("sign-in refused: the password checks are all taken");
            return busy();
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            return back("unavailable");
        }
    };
    if let Err(e) = session.login(&user).await {
        tracing::error!(error = %e, "could not start a session");
        return back("unavailable");
    }
    if let Err(e) = session.session.insert(SIGNED_IN_AT, now_ms()).await {
        tracing::error!(error = %e, "could not record the sign-in time");
        return back("unavailable");
    }
    if let Err(e) = throttle.succeeded(&mut redis, &email, address).await {
        tracing::warn!(error = %e, "failure count not cleared");
    }
    state
        .store
        .audit(audit_entry(
            Some(&user.email),
            "login.success",
            None,
            address,
        ))
        .await;
    tracing::info!(email = %user.email, "signed in");
    Redirect::to(next).into_response()
}

/// `POST /logout`: the session is deleted from the store, so its cookie is dead.
pub async fn logout(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    mut session: Session,
) -> Response {
    match session.logout().await {
        Ok(Some(user)) => {
            state
                .store
                .audit(audit_entry(Some(&user.email), "logout", None, Some(client)))
                .await;
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "logout failed"),
    }
    Redirect::to("/login").into_response()
}

/// Ends every session of `user_id` on every web process and closes their live feeds.
pub async fn end_sessions(state: &AppState, user_id: &str) {
    if let Err(e) = state.auth.sessions.end_sessions_of(user_id).await {
        tracing::error!(error = %e, "sessions not ended");
    }
    crate::server::feed::kick(state, user_id).await;
}

/// A redirect target after login must be a path on this site.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    if ok && next != "/login" {
        next
    } else {
        "/conversations"
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_redirect_targets() {
        assert_eq!(
            safe_next("/conversations/abc?x=1"),
            "/conversations/abc?x=1"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "",
            "javascript:x",
        ] {
            assert_eq!(safe_next(bad), "/conversations", "{bad}");
        }
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
    fn admin_paths() {
        assert!(is_admin_only("/admin/users"));
        assert!(is_admin_only("/api/admin/users/list"));
        assert!(!is_admin_only("/administrator"));
        assert!(!is_admin_only("/account"));
    }

    #[test]
    fn public_paths() {
        assert!(is_public("/login"));
        assert!(is_public("/pkg/billie-dashboard.wasm"));
        assert!(!is_public("/conversations"));
        assert!(!is_public("/api/conversations/list"));
        assert!(!is_public("/ws"));
    }
}
