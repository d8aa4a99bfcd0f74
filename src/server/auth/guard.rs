//! The one gate every request passes: anonymous callers are refused (pages go to the
//! sign-in page, remembering where they were going; everything else gets 401), a
//! signed-in session is kept alive or ended (see [`super::session`]), an account that
//! must enrol in two-step sign-in reaches only its account page, and admin paths are for
//! admins. Applied to the whole router, so a new route is protected without
//! remembering to be.

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};

use super::{Session, session, urlencode};
use crate::server::state::AppState;
use crate::server::store::Role;

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

#[cfg(test)]
mod tests {
    use super::*;

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
