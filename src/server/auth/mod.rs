//! Who may see the dashboard, and as what. Accounts are checked with axum-login against
//! the `users` collection. Every page, server function and the live feed goes through
//! [`guard`] (anonymous callers refused, sessions past their absolute lifetime ended,
//! admin pages for admins only), so a new route is protected without remembering to be;
//! [`require_user`] and [`require_admin`] do the same for server functions.

pub mod address;
pub mod mfa;
pub mod origin;
pub mod password;
pub mod policy;
pub mod session;
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

use crate::server::config::MfaRequired;
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

/// Seconds a caller refused with [`AuthError::Busy`] is asked to wait.
const BUSY_RETRY_SECS: &str = "5";

/// The answer to a sign-in refused because the password checks are all taken.
pub(crate) fn busy() -> Response {
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

/// Paths anyone may fetch: the login page and form, static files, and the operations
/// endpoints (which show no customer data).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/login/mfa" | "/logout" | "/healthz" | "/readyz" | "/metrics" | "/favicon.svg"
    ) || path.starts_with("/pkg/")
}

/// What an account that must enrol in two-step sign-in may still reach: its account
/// page and what that page uses.
fn enrolment_path(path: &str) -> bool {
    is_public(path)
        || matches!(path, "/account" | "/ws" | "/api/whoami")
        || path.starts_with("/account/")
        || path.starts_with("/api/account/")
        || path.starts_with("/avatars/")
}

/// The answer elsewhere to an account that must enrol first.
fn enrol_first(path: &str) -> Response {
    if path.starts_with("/api/") {
        return (
            StatusCode::FORBIDDEN,
            "set up two-step sign-in on your account page first",
        )
            .into_response();
    }
    Redirect::to("/account?mfa=required#two-step").into_response()
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
        session::keep_alive(&mut session, state.auth.idle, state.auth.max_session).await;
    }
    match &session.user {
        Some(user) if state.auth.mfa_required(user.role) && !user.mfa && !enrolment_path(&path) => {
            enrol_first(&path)
        }
        Some(user) if is_admin_only(&path) && user.role != Role::Admin => forbidden(&path),
        Some(_) => next.run(request).await,
        None if is_public(&path) => next.run(request).await,
        None => refuse_anonymous(&request),
    }
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
/// The longest password accepted (see [`policy`]).
pub const MAX_PASSWORD_CHARS: usize = policy::MAX_CHARS;

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
    let demo = policy::refused_at_sign_in(&form.password, state.auth.production);
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
    if user.mfa {
        // The password is right; the sign-in waits for the second step.
        return mfa::start(&mut session, &user, next).await;
    }
    if let Err(e) = session.login(&user).await {
        tracing::error!(error = %e, "could not start a session");
        return back("unavailable");
    }
    if let Err(e) = session
        .session
        .insert(session::SIGNED_IN_AT, session::now_ms())
        .await
    {
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
    let tag = session
        .session
        .id()
        .map(|id| session::session_tag(&state.auth.digests, &id));
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
    // Its live feeds close on every web process.
    if let Some(tag) = tag {
        crate::server::feed::kick(&state, &session::Ended::Session(tag)).await;
    }
    Redirect::to("/login").into_response()
}

/// Ends every session of `user_id` on every web process and closes their live feeds.
pub async fn end_sessions(state: &AppState, user_id: &str) {
    if let Err(e) = state.auth.sessions.end_sessions_of(user_id).await {
        tracing::error!(error = %e, "sessions not ended");
    }
    crate::server::feed::kick(state, &session::Ended::User(user_id.to_owned())).await;
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
