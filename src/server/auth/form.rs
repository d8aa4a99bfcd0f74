//! The sign-in and sign-out forms: plain form posts, so they work before (or without)
//! the WASM. Sign-in is bounded before any work, throttled before any password check,
//! queued with a bound (503 past it), and answers the same for unknown accounts, wrong
//! passwords and disabled accounts; an account with two-step sign-in goes on to
//! [`super::mfa`].

use axum::{
    Extension, Form,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::address::ClientAddress;
use super::{
    AuthError, Credentials, Session, audit_entry, mfa, policy, session, throttle, urlencode,
};
use crate::server::state::AppState;

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

/// A redirect target after login must be a path on this site.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    if ok && next != "/login" { next } else { "/" }
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
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }
}
