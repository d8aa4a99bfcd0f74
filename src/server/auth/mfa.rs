//! Two-step sign-in (ASVS 5.0 V6.3.3): a TOTP code (RFC 6238: SHA-1, 6 digits, 30 s,
//! one step of skew either way) from an authenticator app, or one of ten single-use
//! recovery codes. Enrolment is on `/account`: a secret is drawn, shown as a QR code
//! (SVG, drawn on the server) and as text, and takes effect once the user types a code it
//! produces; the recovery codes are then shown until the user says they have kept them,
//! and stored only as argon2id hashes (they carry 50 bits, under the 112 that ASVS 6.5.2
//! lets a plain hash keep). Each code
//! is accepted once (the last accepted time step is kept, and raised by a conditional
//! write, so two sign-ins racing with one code cannot both pass). Code attempts are
//! throttled like passwords, and every enrolment, use, failure and reset is audited.
//!
//! Sign-in with two steps: the password form, when the account has two-step sign-in,
//! does not sign in; it keeps the account in the session as [`Pending`] (for
//! [`PENDING_FOR`]) and sends the browser to `/login/mfa`, whose form signs in.

use std::net::IpAddr;
use std::time::Duration;

use axum::{
    Extension, Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use qrcode::{QrCode, render::svg};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, Totp};

use super::address::ClientAddress;
use super::session::{SIGNED_IN_AT, now_ms};
use super::throttle::{Verdict, minutes};
use super::{Session, User, audit_entry, safe_next, urlencode};
use crate::server::state::AppState;
use crate::server::store::UserDoc;

/// What the authenticator app shows next to the code.
const ISSUER: &str = "Billie supervisor";
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How long the second step may follow the first.
pub const PENDING_FOR: Duration = Duration::from_secs(5 * 60);
/// Session key of a sign-in waiting for its second step.
const PENDING: &str = "billie.mfa_pending";
/// Session key of recovery codes just made, shown on `/account` (to this session only)
/// until the user says they have kept them.
pub const FRESH_CODES: &str = "billie.mfa_fresh_codes";

/// A sign-in whose password was right, waiting for its code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    user_id: String,
    email: String,
    next: String,
    at_ms: i64,
}

/// A new random TOTP secret (160 bits, as RFC 4226 recommends), base32.
pub fn new_secret() -> String {
    Secret::new(rand::random::<[u8; 20]>().to_vec().into_boxed_slice()).to_base32()
}

fn totp(secret: &str, email: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(email.replace(':', ""))
        .build()
        .ok()
}

/// What enrolment shows: the `otpauth://` URL as a QR code (SVG) and the secret as text.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub svg: String,
    pub secret: String,
}

pub fn enrolment(secret: &str, email: &str) -> Option<Enrolment> {
    let url = totp(secret, email)?.to_url().ok()?;
    let code = QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Groups of four, as apps that take the key by hand show it.
    let spaced = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Enrolment {
        svg,
        secret: spaced,
    })
}

/// The time step `code` is good for at `now_secs`, if it is good and later than
/// `last_step` (a code is accepted once).
pub fn check_code(secret: &str, code: &str, now_secs: u64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    if code.len() != 6 {
        return None;
    }
    let step = totp(secret, "")?.check(&code, now_secs)?;
    let step = i64::try_from(step).ok()?;
    (step > last_step).then_some(step)
}

/// Ten new recovery codes, as the user is shown them (hash [`normal_code`] of each to
/// keep it).
pub fn new_recovery_codes() -> Vec<String> {
    // Crockford's base32 alphabet: no I, L, O or U to misread.
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    codes
}

/// A recovery code as it is hashed: its letters and digits, upper case, so that
/// "abcde fghjk" is "ABCDE-FGHJK".
pub fn normal_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `code` is written like a recovery code rather than a TOTP code.
fn is_recovery_code(code: &str) -> bool {
    code.chars().filter(char::is_ascii_alphanumeric).count() > 6
}

/// Whether the second step comes too late for `pending` at `now`.
fn expired(pending: &Pending, now: i64) -> bool {
    now.saturating_sub(pending.at_ms) > PENDING_FOR.as_millis() as i64
}

/// The password was right for an account with two-step sign-in: remembers it in the
/// session and sends the browser to the second step.
pub async fn start(session: &mut Session, user: &User, next: &str) -> Response {
    let pending = Pending {
        user_id: user.id.clone(),
        email: user.email.clone(),
        next: next.to_owned(),
        at_ms: now_ms(),
    };
    if let Err(e) = session.session.cycle_id().await {
        tracing::warn!(error = %e, "session id not renewed before the second step");
    }
    match session.session.insert(PENDING, pending).await {
        Ok(()) => Redirect::to("/login/mfa").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "second step not started");
            Redirect::to("/login?error=unavailable").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/mfa`: the second step. Signs in on a good code.
pub async fn second_step(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    mut session: Session,
    Form(form): Form<CodeForm>,
) -> Response {
    let address = Some(client);
    let again = |error: &str| Redirect::to(&format!("/login/mfa?error={error}")).into_response();
    let pending = session.session.get::<Pending>(PENDING).await.ok().flatten();
    let Some(pending) = pending.filter(|p| !expired(p, now_ms())) else {
        let _ = session.session.remove::<Pending>(PENDING).await;
        return Redirect::to("/login?error=expired").into_response();
    };
    if form.code.chars().count() > 32 {
        return again("invalid");
    }
    let mut redis = state.redis.clone();
    let throttle = &state.auth.throttle;
    let key = format!("mfa:{}", pending.email);
    match throttle.attempt(&mut redis, &key, address).await {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Refused { wait, first }) => {
            if first {
                let entry = audit_entry(Some(&pending.email), "mfa.throttled", None, address);
                state.store.audit(entry).await;
            }
            return Redirect::to(&format!(
                "/login/mfa?error=throttled&wait={}",
                urlencode(&minutes(wait))
            ))
            .into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "two-step throttle unavailable");
            return again("unavailable");
        }
    }
    let doc = match state.store.user_by_id(&pending.user_id).await {
        Ok(Some(doc)) if !doc.disabled => doc,
        Ok(_) => return Redirect::to("/login?error=invalid").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "two-step: account not read");
            return again("unavailable");
        }
    };
    let Some(mfa) = doc.mfa.clone() else {
        return Redirect::to("/login?error=invalid").into_response();
    };
    let used = if is_recovery_code(&form.code) {
        match super::password::matching(normal_code(&form.code), mfa.recovery.clone()).await {
            Ok(Some(hash)) => state
                .store
                .use_recovery_code(doc.id, &hash)
                .await
                .map(|ok| ok.then_some("recovery code")),
            Ok(None) => Ok(None),
            Err(super::AuthError::Busy) => return super::form::busy(),
            Err(e) => {
                tracing::error!(error = %e, "two-step: recovery code not checked");
                return again("unavailable");
            }
        }
    } else {
        let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
        match check_code(&mfa.secret, &form.code, now, mfa.last_step) {
            Some(step) => state
                .store
                .use_totp_step(doc.id, step)
                .await
                .map(|ok| ok.then_some("code")),
            None => Ok(None),
        }
    };
    let how = match used {
        Ok(Some(how)) => how,
        Ok(None) => {
            let entry = audit_entry(Some(&doc.email), "mfa.failure", None, address);
            state.store.audit(entry).await;
            return again("invalid");
        }
        Err(e) => {
            tracing::error!(error = %e, "two-step: code not checked");
            return again("unavailable");
        }
    };
    let _ = session.session.remove::<Pending>(PENDING).await;
    let user = User::new(doc, &state.auth.digests);
    if let Err(e) = session.login(&user).await {
        tracing::error!(error = %e, "could not start a session");
        return again("unavailable");
    }
    if let Err(e) = session.session.insert(SIGNED_IN_AT, now_ms()).await {
        tracing::error!(error = %e, "could not record the sign-in time");
        return again("unavailable");
    }
    for key in [key.as_str(), user.email.as_str()] {
        if let Err(e) = throttle.succeeded(&mut redis, key, address).await {
            tracing::warn!(error = %e, "failure count not cleared");
        }
    }
    let action = if how == "code" {
        "login.success"
    } else {
        "mfa.recovery_used"
    };
    let mut entry = audit_entry(Some(&user.email), action, None, address);
    entry.detail = Some(format!("two-step sign-in with a {how}"));
    state.store.audit(entry).await;
    Redirect::to(safe_next(&pending.next)).into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// Back to the account page's two-step section, saying what went wrong.
fn back(error: &str) -> Response {
    Redirect::to(&format!("/account?error={error}#two-step")).into_response()
}

/// Why an account-page two-step form stops short.
enum Stop {
    /// Nobody (or no account any more) is signed in.
    SignIn,
    /// Back to the form, saying this.
    Back(&'static str),
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/login").into_response(),
            Self::Back(error) => back(error),
        }
    }
}

/// The signed-in account as stored now, for the account page's two-step forms.
async fn account(state: &AppState, session: &Session) -> Result<(User, UserDoc), Stop> {
    let user = session.user.clone().ok_or(Stop::SignIn)?;
    match state.store.user_by_id(&user.id).await {
        Ok(Some(doc)) => Ok((user, doc)),
        Ok(None) => Err(Stop::SignIn),
        Err(e) => {
            tracing::error!(error = %e, "two-step: account not read");
            Err(Stop::Back("unavailable"))
        }
    }
}

/// Counts an attempt at `key` (a password or a code typed on the account page).
async fn attempt(state: &AppState, key: &str, address: Option<IpAddr>) -> Result<(), Stop> {
    let mut redis = state.redis.clone();
    match state.auth.throttle.attempt(&mut redis, key, address).await {
        Ok(Verdict::Allowed) => Ok(()),
        Ok(Verdict::Refused { .. }) => Err(Stop::Back("mfa-throttled")),
        Err(e) => {
            tracing::error!(error = %e, "throttle unavailable");
            Err(Stop::Back("unavailable"))
        }
    }
}

/// The attempt at `key` succeeded: its failures are forgotten.
async fn succeeded(state: &AppState, key: &str, address: Option<IpAddr>) {
    let mut redis = state.redis.clone();
    if let Err(e) = state
        .auth
        .throttle
        .succeeded(&mut redis, key, address)
        .await
    {
        tracing::warn!(error = %e, "failure count not cleared");
    }
}

/// `POST /account/mfa/start`: draws a secret to enrol, once the current password is
/// given again (ASVS 7.5.1: a change to how one signs in asks who is asking). Wrong
/// passwords count as failed sign-ins.
pub async fn begin(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Response {
    let address = Some(client);
    let (user, doc) = match account(&state, &session).await {
        Ok(found) => found,
        Err(stop) => return stop.into_response(),
    };
    if form.password.chars().count() > super::MAX_PASSWORD_CHARS {
        return back("mfa-password");
    }
    if let Err(stop) = attempt(&state, &user.email, address).await {
        return stop.into_response();
    }
    match super::password::verify(form.password, Some(doc.password_hash)).await {
        Ok(true) => {}
        Ok(false) => {
            let entry = audit_entry(Some(&user.email), "mfa.enrol_failure", None, address);
            state.store.audit(entry).await;
            return back("mfa-password");
        }
        Err(super::AuthError::Busy) => return super::form::busy(),
        Err(e) => {
            tracing::error!(error = %e, "password not checked");
            return back("unavailable");
        }
    }
    succeeded(&state, &user.email, address).await;
    if let Err(e) = state.store.set_mfa_pending(&user.id, &new_secret()).await {
        tracing::error!(error = %e, "two-step enrolment not started");
        return back("unavailable");
    }
    let entry = audit_entry(Some(&user.email), "mfa.enrol_start", None, address);
    state.store.audit(entry).await;
    Redirect::to("/account#two-step").into_response()
}

/// `POST /account/mfa/confirm`: a code from the app completes the enrolment; the
/// recovery codes are then shown until the user has kept them.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    session: Session,
    Form(form): Form<CodeForm>,
) -> Response {
    let address = Some(client);
    let (user, doc) = match account(&state, &session).await {
        Ok(found) => found,
        Err(stop) => return stop.into_response(),
    };
    let Some(secret) = doc.mfa_pending else {
        return back("mfa-not-started");
    };
    let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
    let Some(step) = check_code(&secret, &form.code, now, -1) else {
        let entry = audit_entry(Some(&user.email), "mfa.enrol_failure", None, address);
        state.store.audit(entry).await;
        return back("mfa-code");
    };
    let codes = new_recovery_codes();
    let normal = codes.iter().map(|c| normal_code(c)).collect();
    let hashes = match super::password::hash_all(normal).await {
        Ok(hashes) => hashes,
        Err(e) => {
            tracing::error!(error = %e, "recovery codes not hashed");
            return back("unavailable");
        }
    };
    match state
        .store
        .confirm_mfa(&user.id, &secret, hashes, step)
        .await
    {
        Ok(true) => {}
        Ok(false) => return back("mfa-not-started"),
        Err(e) => {
            tracing::error!(error = %e, "two-step enrolment not stored");
            return back("unavailable");
        }
    }
    if let Err(e) = session.session.insert(FRESH_CODES, codes).await {
        tracing::error!(error = %e, "recovery codes not kept to show");
    }
    let entry = audit_entry(Some(&user.email), "mfa.enrol", None, address);
    state.store.audit(entry).await;
    Redirect::to("/account?saved=mfa#two-step").into_response()
}

/// `POST /account/mfa/saved`: the user has kept the recovery codes; they are not shown
/// again. (A server function could not do this: a page's server functions run while the
/// page streams, after its session has been saved.)
pub async fn codes_saved(session: Session) -> Response {
    if let Err(e) = session.session.remove::<Vec<String>>(FRESH_CODES).await {
        tracing::warn!(error = %e, "recovery codes not forgotten");
    }
    Redirect::to("/account#two-step").into_response()
}

/// `POST /account/mfa/disable`: turns two-step sign-in off, with a good code, where the
/// account's role does not require it.
pub async fn disable(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    session: Session,
    Form(form): Form<CodeForm>,
) -> Response {
    let address = Some(client);
    let (user, doc) = match account(&state, &session).await {
        Ok(found) => found,
        Err(stop) => return stop.into_response(),
    };
    if state.auth.mfa_required(user.role) {
        return back("mfa-required");
    }
    let key = format!("mfa:{}", user.email);
    if let Err(stop) = attempt(&state, &key, address).await {
        return stop.into_response();
    }
    let Some(mfa) = doc.mfa else {
        return Redirect::to("/account#two-step").into_response();
    };
    let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
    if check_code(&mfa.secret, &form.code, now, mfa.last_step).is_none() {
        let entry = audit_entry(Some(&user.email), "mfa.failure", None, address);
        state.store.audit(entry).await;
        return back("mfa-code");
    }
    if let Err(e) = state.store.reset_mfa(&user.id).await {
        tracing::error!(error = %e, "two-step sign-in not turned off");
        return back("unavailable");
    }
    succeeded(&state, &key, address).await;
    let entry = audit_entry(Some(&user.email), "mfa.disable", None, address);
    state.store.audit(entry).await;
    Redirect::to("/account?saved=mfa-off#two-step").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test secret ("12345678901234567890"), base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082; six digits: 287082.
        assert_eq!(check_code(RFC_SECRET, "287082", 59, -1), Some(1));
        // T = 1111111109 s: 07081804 → 081804.
        assert_eq!(
            check_code(RFC_SECRET, "081 804", 1_111_111_109, -1),
            Some(37_037_036)
        );
        assert_eq!(check_code(RFC_SECRET, "000000", 59, -1), None);
        assert_eq!(check_code(RFC_SECRET, "28708", 59, -1), None);
    }

    #[test]
    fn a_code_is_good_once_and_one_step_either_way() {
        assert_eq!(
            check_code(RFC_SECRET, "287082", 59, 1),
            None,
            "already used"
        );
        assert_eq!(
            check_code(RFC_SECRET, "287082", 59 + 30, -1),
            Some(1),
            "a step late"
        );
        assert_eq!(
            check_code(RFC_SECRET, "287082", 59 + 60, -1),
            None,
            "two steps late"
        );
    }

    #[tokio::test]
    async fn recovery_codes_are_random_and_kept_as_argon2_hashes() {
        use crate::server::auth::password::{hash_all, matching};
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| is_recovery_code(c)));
        assert!(!is_recovery_code("123 456"));
        let hashes = hash_all(codes.iter().map(|c| normal_code(c)).collect())
            .await
            .unwrap();
        assert!(hashes.iter().all(|h| h.starts_with("$argon2id$")));
        let typed = codes[4].to_lowercase().replace('-', " ");
        let found = matching(normal_code(&typed), hashes.clone()).await.unwrap();
        assert_eq!(found.as_deref(), Some(hashes[4].as_str()));
        assert_eq!(matching("NOTACODE00".into(), hashes).await.unwrap(), None);
    }

    #[test]
    fn enrolment_shows_a_qr_code_and_the_secret() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let shown = enrolment(&secret, "ann@billie.example").unwrap();
        assert!(shown.svg.contains("<svg"));
        assert!(!shown.svg.contains("style="), "inline styles break the CSP");
        assert_eq!(shown.secret.replace(' ', ""), secret);
    }

    #[test]
    fn the_second_step_expires() {
        let pending = Pending {
            user_id: "u".into(),
            email: "e".into(),
            next: "/".into(),
            at_ms: 1_000,
        };
        assert!(!expired(&pending, 1_000 + 300_000));
        assert!(expired(&pending, 1_000 + 300_001));
    }
}
