//! What server functions and handlers use from authentication: the caller (refusing
//! anonymous ones, and non-admins where admins only), the caller's address, audit
//! entries, and ending an account's sessions everywhere.

use std::net::IpAddr;

use axum::{Extension, http::StatusCode};
use leptos::prelude::ServerFnError;
use mongodb::bson;

use super::address::ClientAddress;
use super::{Session, User, session};
use crate::server::state::AppState;
use crate::server::store::{AuditEntry, Role};

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

/// Ends every session of `user_id` on every web process and closes their live feeds.
pub async fn end_sessions(state: &AppState, user_id: &str) {
    if let Err(e) = state.auth.sessions.end_sessions_of(user_id).await {
        tracing::error!(error = %e, "sessions not ended");
    }
    crate::server::feed::kick(state, &session::Ended::User(user_id.to_owned())).await;
}
