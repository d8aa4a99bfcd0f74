//! API tokens on the admin pages (`/admin/tokens`): create one (its text is shown once),
//! list them with their creator and last use, revoke one. The tokens themselves are for
//! `/api/v1` (see `server::api_v1`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One token as the admin page lists it (never its text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// A token just created: its text, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    pub text: String,
}

/// Every token, newest first.
#[server(endpoint = "admin/tokens/list")]
pub async fn list_tokens() -> Result<Vec<TokenView>, ServerFnError> {
    let (state, _) = crate::server::auth::require_admin().await?;
    let tokens = state
        .store
        .list_tokens()
        .await
        .map_err(crate::server::errors::store)?;
    Ok(tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id.to_hex(),
            name: t.name,
            created_by: t.created_by,
            created_at_ms: t.created_at.timestamp_millis(),
            last_used_ms: t.last_used_at.map(|t| t.timestamp_millis()),
            revoked_ms: t.revoked_at.map(|t| t.timestamp_millis()),
        })
        .collect())
}

/// Creates a token named `name`; returns its text, which is not stored.
#[server(endpoint = "admin/tokens/create")]
pub async fn create_token(name: String) -> Result<NewToken, ServerFnError> {
    use crate::server::auth::{audit_entry, client_address};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let name = crate::server::store::parse_token_name(&name).map_err(ServerFnError::new)?;
    let (token, text) = state
        .store
        .create_token(name, &admin.email)
        .await
        .map_err(crate::server::errors::store)?;
    let entry = audit_entry(
        Some(&admin.email),
        "token.create",
        Some(&token.name),
        client_address().await,
    );
    state.store.audit(entry).await;
    Ok(NewToken {
        name: token.name,
        text,
    })
}

/// Revokes token `id`: every web process refuses it from its next request.
#[server(endpoint = "admin/tokens/revoke")]
pub async fn revoke_token(id: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let name = state
        .store
        .revoke_token(&id)
        .await
        .map_err(crate::server::errors::store)?
        .ok_or_else(|| ServerFnError::new("there is no such token"))?;
    let entry = audit_entry(
        Some(&admin.email),
        "token.revoke",
        Some(&name),
        client_address().await,
    );
    state.store.audit(entry).await;
    Ok(())
}
