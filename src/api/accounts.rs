//! Accounts: who is signed in, their own profile and password, and (for admins) every
//! account and the audit log. Admin functions live under `/api/admin/`, which the guard
//! also keeps for admins; each checks the role again itself.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub role: super::Role,
    /// First and last name, if given.
    pub name: Option<String>,
    /// Where their avatar is, if they uploaded one.
    pub avatar_url: Option<String>,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == super::Role::Admin
    }

    /// The name shown beside the avatar: their name, else the email's name part with
    /// words capitalised.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        self.email_words()
            .map(|w| {
                let mut chars = w.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Up to two letters for an avatar without an image.
    pub fn initials(&self) -> String {
        let letters: String = match &self.name {
            Some(name) => name
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .take(2)
                .collect(),
            None => self
                .email_words()
                .filter_map(|w| w.chars().next())
                .take(2)
                .collect(),
        };
        letters.to_uppercase()
    }

    fn email_words(&self) -> impl Iterator<Item = &str> {
        self.email
            .split('@')
            .next()
            .unwrap_or_default()
            .split(['.', '_', '-', '+'])
            .filter(|w| !w.is_empty())
    }
}

/// An account as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: super::Role,
    pub name: Option<String>,
    pub disabled: bool,
    pub created_ms: i64,
    /// Two-step sign-in is on.
    pub mfa: bool,
}

/// The caller's two-step sign-in, as `/account` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaStatus {
    pub enrolled: bool,
    /// The caller's role must sign in with two steps.
    pub required: bool,
    pub recovery_left: usize,
    /// An enrolment under way: what to scan or type into the app.
    pub pending: Option<MfaEnrolment>,
    /// Recovery codes just made, shown until the user has kept them.
    pub fresh_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaEnrolment {
    /// The QR code, an SVG drawn on the server.
    pub svg: String,
    /// The secret, in groups of four, for typing in.
    pub secret: String,
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub at_ms: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    /// Pass back as `before` for older entries.
    pub next: Option<String>,
}

/// The signed-in user.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Me, ServerFnError> {
    let (_, user) = crate::server::auth::require_user().await?;
    Ok(Me {
        avatar_url: (user.avatar_version > 0)
            .then(|| format!("/avatars/{}?v={}", user.id, user.avatar_version)),
        id: user.id,
        email: user.email,
        role: user.role,
        name: user.name,
    })
}

/// Sets the caller's first and last name (either may be empty).
#[server(endpoint = "account/profile")]
pub async fn update_profile(first_name: String, last_name: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address};
    let (state, user) = crate::server::auth::require_user().await?;
    state
        .store
        .set_user_names(&user.id, &first_name, &last_name)
        .await
        .map_err(crate::server::errors::user)?;
    let address = client_address().await;
    state
        .store
        .audit(audit_entry(
            Some(&user.email),
            "self.profile",
            None,
            address,
        ))
        .await;
    Ok(())
}

/// Changes the caller's password after checking the current one. Every session of the
/// account ends, this one included: sign in again with the new password.
#[server(endpoint = "account/password")]
pub async fn change_password(
    current: String,
    new_password: String,
    repeat: String,
) -> Result<(), ServerFnError> {
    use crate::server::auth::throttle::{Verdict, minutes};
    use crate::server::auth::{audit_entry, client_address, end_sessions, password, policy};
    use crate::server::errors;
    let (state, user) = crate::server::auth::require_user().await?;
    if new_password != repeat {
        return Err(ServerFnError::new("the new passwords do not match"));
    }
    policy::check_new_password(&new_password, &user.email, state.auth.production)
        .map_err(errors::user)?;
    // The current password is guessed no faster here than at sign-in: the same counts.
    let address = client_address().await;
    let mut redis = state.redis.clone();
    let throttle = &state.auth.throttle;
    match throttle.attempt(&mut redis, &user.email, address).await {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Refused { wait, first }) => {
            if first {
                let entry =
                    audit_entry(Some(&user.email), "self.password.throttled", None, address);
                state.store.audit(entry).await;
            }
            return Err(ServerFnError::new(format!(
                "too many wrong passwords: try again in {}",
                minutes(wait)
            )));
        }
        Err(e) => return Err(errors::internal(e)),
    }
    let stored = state
        .store
        .user_by_id(&user.id)
        .await
        .map_err(errors::store)?
        .ok_or_else(|| ServerFnError::new("no such user"))?;
    let ok = password::verify(current, Some(stored.password_hash))
        .await
        .map_err(errors::auth)?;
    if !ok {
        let entry = audit_entry(Some(&user.email), "self.password.failure", None, address);
        state.store.audit(entry).await;
        return Err(ServerFnError::new("the current password is not right"));
    }
    if let Err(e) = throttle.succeeded(&mut redis, &user.email, address).await {
        tracing::warn!(error = %e, "failure count not cleared");
    }
    let hash = password::hash(new_password).await.map_err(errors::auth)?;
    state
        .store
        .set_user_password(&user.id, &hash)
        .await
        .map_err(errors::user)?;
    end_sessions(&state, &user.id).await;
    state
        .store
        .audit(audit_entry(
            Some(&user.email),
            "self.password",
            None,
            address,
        ))
        .await;
    Ok(())
}

/// Every account, by email.
#[server(endpoint = "admin/users/list")]
pub async fn list_users() -> Result<Vec<UserView>, ServerFnError> {
    let (state, _) = crate::server::auth::require_admin().await?;
    let users = state
        .store
        .list_users()
        .await
        .map_err(crate::server::errors::store)?;
    Ok(users
        .into_iter()
        .map(|u| UserView {
            id: u.id.to_hex(),
            name: u.full_name(),
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            created_ms: u.created_at.timestamp_millis(),
            mfa: u.mfa.is_some(),
        })
        .collect())
}

/// Creates an account.
#[server(endpoint = "admin/users/create")]
pub async fn create_user(
    email: String,
    role: String,
    password: String,
) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address};
    use crate::server::store::{NewUser, normalise_email};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let email = normalise_email(&email).map_err(ServerFnError::new)?;
    let role = crate::server::store::parse_role(&role).map_err(ServerFnError::new)?;
    crate::server::auth::policy::check_new_password(&password, &email, state.auth.production)
        .map_err(crate::server::errors::user)?;
    let password_hash = crate::server::auth::password::hash(password)
        .await
        .map_err(crate::server::errors::auth)?;
    let user = state
        .store
        .add_user(
            NewUser {
                email,
                role,
                password_hash,
            },
            false,
        )
        .await
        .map_err(crate::server::errors::user)?;
    let mut entry = audit_entry(
        Some(&admin.email),
        "user.create",
        Some(&user.email),
        client_address().await,
    );
    entry.detail = Some(format!("role {}", user.role.as_str()));
    state.store.audit(entry).await;
    Ok(())
}

/// Disables (ending every session at once) or enables an account.
#[server(endpoint = "admin/users/disabled")]
pub async fn set_user_disabled(id: String, disabled: bool) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address, end_sessions};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let user = state
        .store
        .set_user_disabled(&id, disabled)
        .await
        .map_err(crate::server::errors::user)?;
    if disabled {
        end_sessions(&state, &id).await;
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let address = client_address().await;
    state
        .store
        .audit(audit_entry(
            Some(&admin.email),
            action,
            Some(&user.email),
            address,
        ))
        .await;
    Ok(())
}

/// Gives an account another role; it applies from the account's next request.
#[server(endpoint = "admin/users/role")]
pub async fn set_user_role(id: String, role: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let role = crate::server::store::parse_role(&role).map_err(ServerFnError::new)?;
    let user = state
        .store
        .set_user_role(&id, role)
        .await
        .map_err(crate::server::errors::user)?;
    // Its open pages load again, as the new role sees them.
    let changed = crate::server::auth::session::Ended::Changed(id.clone());
    crate::server::feed::kick(&state, &changed).await;
    let mut entry = audit_entry(
        Some(&admin.email),
        "user.role",
        Some(&user.email),
        client_address().await,
    );
    entry.detail = Some(format!("role {}", role.as_str()));
    state.store.audit(entry).await;
    Ok(())
}

/// Sets a new password for an account, ending its sessions.
#[server(endpoint = "admin/users/password")]
pub async fn reset_user_password(id: String, password: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address, end_sessions};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let account = state
        .store
        .user_by_id(&id)
        .await
        .map_err(crate::server::errors::store)?
        .ok_or_else(|| ServerFnError::new("no such user"))?;
    crate::server::auth::policy::check_new_password(
        &password,
        &account.email,
        state.auth.production,
    )
    .map_err(crate::server::errors::user)?;
    let hash = crate::server::auth::password::hash(password)
        .await
        .map_err(crate::server::errors::auth)?;
    let user = state
        .store
        .set_user_password(&id, &hash)
        .await
        .map_err(crate::server::errors::user)?;
    end_sessions(&state, &id).await;
    let address = client_address().await;
    state
        .store
        .audit(audit_entry(
            Some(&admin.email),
            "user.password_reset",
            Some(&user.email),
            address,
        ))
        .await;
    Ok(())
}

/// The caller's two-step sign-in, with the recovery codes just made until the user says
/// they have kept them (`POST /account/mfa/saved`).
#[server(endpoint = "account/mfa")]
pub async fn get_mfa() -> Result<MfaStatus, ServerFnError> {
    use crate::server::auth::{Session, mfa};
    use crate::server::errors;
    let (state, user) = crate::server::auth::require_user().await?;
    let doc = state
        .store
        .user_by_id(&user.id)
        .await
        .map_err(errors::store)?
        .ok_or_else(|| ServerFnError::new("no such user"))?;
    let session = leptos_axum::extract::<Session>().await?;
    let fresh_codes = session
        .session
        .get::<Vec<String>>(mfa::FRESH_CODES)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let pending = doc
        .mfa_pending
        .as_deref()
        .and_then(|secret| mfa::enrolment(secret, &doc.email))
        .map(|e| MfaEnrolment {
            svg: e.svg,
            secret: e.secret,
        });
    Ok(MfaStatus {
        enrolled: doc.mfa.is_some(),
        required: state.auth.mfa_required(doc.role),
        recovery_left: doc.mfa.map_or(0, |m| m.recovery.len()),
        pending,
        fresh_codes,
    })
}

/// Turns an account's two-step sign-in off (a lost phone and no recovery codes left):
/// its sessions end, and it enrols again at its next sign-in if its role requires it.
#[server(endpoint = "admin/users/mfa-reset")]
pub async fn reset_user_mfa(id: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{audit_entry, client_address, end_sessions};
    let (state, admin) = crate::server::auth::require_admin().await?;
    let user = state
        .store
        .reset_mfa(&id)
        .await
        .map_err(crate::server::errors::user)?;
    end_sessions(&state, &id).await;
    let entry = audit_entry(
        Some(&admin.email),
        "user.mfa_reset",
        Some(&user.email),
        client_address().await,
    );
    state.store.audit(entry).await;
    Ok(())
}

/// The audit log, newest first; `before` is the previous page's `next`.
#[server(endpoint = "admin/audit")]
pub async fn audit_log(before: Option<String>) -> Result<AuditPage, ServerFnError> {
    let (state, _) = crate::server::auth::require_admin().await?;
    let (entries, next) = state
        .store
        .audit_entries(before.as_deref(), 100)
        .await
        .map_err(crate::server::errors::store)?;
    Ok(AuditPage {
        items: entries
            .into_iter()
            .map(|e| AuditView {
                at_ms: e.at.timestamp_millis(),
                actor: e.actor,
                action: e.action,
                target: e.target,
                address: e.address,
                detail: e.detail,
            })
            .collect(),
        next,
    })
}
