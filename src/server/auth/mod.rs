//! Who may see the dashboard. Accounts are checked with axum-login against the `users`
//! collection; every page, server function and the live feed refuses anonymous callers
//! in one place, [`guard`], so a new route is protected without remembering to be.

pub mod password;

use axum::{
    Form,
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_login::{AuthSession, AuthUser, AuthnBackend, UserId};
use leptos::prelude::ServerFnError;
use serde::Deserialize;

use crate::server::startup::AppState;
use crate::server::store::{Role, Store, StoreError, UserDoc};

/// A signed-in account.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
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
            email: doc.email,
            role: doc.role,
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
        Ok(user.filter(|_| ok).map(User::from))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, AuthError> {
        Ok(self.store.user_by_id(id).await?.map(User::from))
    }
}

pub type Session = AuthSession<Backend>;

/// Paths anyone may fetch: the login page and form, static files, and the operations
/// endpoints (which show no customer data).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/logout" | "/healthz" | "/readyz" | "/metrics" | "/favicon.svg"
    ) || path.starts_with("/pkg/")
}

/// Refuses anonymous requests: pages redirect to the login page (remembering where the
/// user was going), everything else (server functions, the live feed) gets 401.
pub async fn guard(session: Session, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if session.user.is_some() || is_public(path) {
        return next.run(request).await;
    }
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

/// For `#[server]` functions: the app state, once the caller is known to be signed in.
pub async fn require_user() -> Result<AppState, ServerFnError> {
    let session = leptos_axum::extract::<Session>().await?;
    if session.user.is_none() {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(StatusCode::UNAUTHORIZED);
        }
        return Err(ServerFnError::new("sign in first"));
    }
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a plain form post, so signing in works before (or without) WASM.
pub async fn login(mut session: Session, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(&form.next);
    let creds = Credentials {
        email: form.email,
        password: form.password,
    };
    let user = match session.authenticate(creds).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            let to = format!("/login?error=invalid&next={}", urlencode(next));
            return Redirect::to(&to).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            let to = format!("/login?error=unavailable&next={}", urlencode(next));
            return Redirect::to(&to).into_response();
        }
    };
    if let Err(e) = session.login(&user).await {
        tracing::error!(error = %e, "could not start a session");
        return Redirect::to("/login?error=unavailable").into_response();
    }
    tracing::info!(email = %user.email, "signed in");
    Redirect::to(next).into_response()
}

/// `POST /logout`.
pub async fn logout(mut session: Session) -> Response {
    if let Err(e) = session.logout().await {
        tracing::error!(error = %e, "logout failed");
    }
    Redirect::to("/login").into_response()
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
    fn public_paths() {
        assert!(is_public("/login"));
        assert!(is_public("/pkg/billie-dashboard.wasm"));
        assert!(!is_public("/conversations"));
        assert!(!is_public("/api/conversations/list"));
        assert!(!is_public("/ws"));
    }
}
