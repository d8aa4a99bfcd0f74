//! `/account`: the signed-in user's own profile (name and avatar), password and
//! two-step sign-in. The two-step section is plain forms rendered on the server (its
//! QR code is drawn there), passed into the page as children.

use leptos::prelude::*;
use leptos::server::ServerAction;

use super::header::ProfileChanged;
use super::live::LiveFeed;
use crate::api::{ChangePassword, MfaStatus, UpdateProfile, get_mfa, whoami};

/// The route: what the avatar upload (a plain form post) came back with is in the URL.
#[component]
pub fn AccountRoute() -> impl IntoView {
    move || {
        let [saved, error, mfa] = super::query_params(["saved", "error", "mfa"]);
        let (mfa_saved, mfa_error) = (saved.clone(), error.clone());
        view! {
            <AccountPage saved error>
                <MfaSection saved=mfa_saved error=mfa_error required=mfa.is_some() />
            </AccountPage>
        }
    }
}

#[component]
fn AccountPage(saved: Option<String>, error: Option<String>, children: Children) -> impl IntoView {
    let profile = ServerAction::<UpdateProfile>::new();
    let password = ServerAction::<ChangePassword>::new();
    let me = Resource::new(move || profile.version().get(), |_| whoami());
    Effect::new(move |_| {
        if matches!(profile.value().get(), Some(Ok(()))) {
            ProfileChanged::notify();
        }
    });
    let returned = StoredValue::new((saved, error));
    let notice = move || {
        returned.with_value(
            |(saved, error)| match (saved.as_deref(), error.as_deref()) {
                (Some("avatar"), _) => Some(("notice", "Your avatar is saved.")),
                (_, Some("avatar-too-large")) => {
                    Some(("error", "That image is larger than 256 KiB."))
                }
                (_, Some("avatar-not-image")) => {
                    Some(("error", "That file is not a PNG, JPEG or WebP image."))
                }
                (_, Some("avatar-dimensions")) => {
                    Some(("error", "That image is wider or taller than 2048 pixels."))
                }
                (_, Some("avatar-missing")) => Some(("error", "Choose an image first.")),
                // The two-step section says its own.
                (Some(saved), _) if saved.starts_with("mfa") => None,
                (_, Some(error)) if error.starts_with("mfa") => None,
                (_, Some(_)) => Some(("error", "That did not work. Try again shortly.")),
                _ => None,
            },
        )
    };
    // A new password ends every session, this one too: this page says so itself.
    let feed = LiveFeed::get();
    Effect::new(move |_| {
        let done = matches!(password.value().get(), Some(Ok(())));
        feed.expect_sign_out(done || password.pending().get());
        if done {
            #[cfg(feature = "hydrate")]
            if let Some(window) = web_sys::window() {
                let _ = window.location().set_href("/login?changed=password");
            }
        }
    });
    view! {
        <main class="page narrow">
            <h1>"Your account"</h1>
            {move || {
                notice()
                    .map(|(class, text)| {
                        view! {
                            <p class=class role="status">
                                {text}
                            </p>
                        }
                    })
            }}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    me.get()
                        .and_then(Result::ok)
                        .map(|me| {
                            let (first, last) = me
                                .name
                                .clone()
                                .map(|n| {
                                    let mut parts = n.splitn(2, ' ');
                                    (
                                        parts.next().unwrap_or_default().to_owned(),
                                        parts.next().unwrap_or_default().to_owned(),
                                    )
                                })
                                .unwrap_or_default();
                            view! {
                                <section class="panel" aria-labelledby="profile-heading">
                                    <h2 id="profile-heading">"Profile"</h2>
                                    <p class="muted">{me.email.clone()} " · " {me.role.as_str()}</p>
                                    <ActionForm action=profile attr:class="form">
                                        <label for="first_name">"First name"</label>
                                        <input id="first_name" name="first_name" value=first maxlength="100" />
                                        <label for="last_name">"Last name"</label>
                                        <input id="last_name" name="last_name" value=last maxlength="100" />
                                        <button type="submit">"Save name"</button>
                                    </ActionForm>
                                    {move || outcome(profile.value().get(), "Your name is saved.")}
                                </section>
                                <section class="panel" aria-labelledby="avatar-heading">
                                    <h2 id="avatar-heading">"Avatar"</h2>
                                    {me
                                        .avatar_url
                                        .clone()
                                        .map(|url| {
                                            view! {
                                                <img class="avatar-large" src=url alt="Your avatar" />
                                            }
                                        })}
                                    <form
                                        class="form"
                                        method="post"
                                        action="/account/avatar"
                                        enctype="multipart/form-data"
                                    >
                                        <label for="avatar">"PNG, JPEG or WebP, at most 256 KiB"</label>
                                        <input
                                            id="avatar"
                                            name="avatar"
                                            type="file"
                                            accept="image/png,image/jpeg,image/webp"
                                            required
                                        />
                                        <button type="submit">"Upload avatar"</button>
                                    </form>
                                </section>
                            }
                        })
                }}
            </Transition>
            <section class="panel" aria-labelledby="password-heading">
                <h2 id="password-heading">"Password"</h2>
                <p class="muted">
                    "Changing it signs you out everywhere, here too: sign in again with the new one."
                </p>
                <ActionForm action=password attr:class="form">
                    <label for="current">"Current password"</label>
                    <input id="current" name="current" type="password" autocomplete="current-password" required />
                    <label for="new_password">"New password (12 to 128 characters)"</label>
                    <input
                        id="new_password"
                        name="new_password"
                        type="password"
                        autocomplete="new-password"
                        minlength="12"
                        maxlength="128"
                        required
                    />
                    <label for="repeat">"New password again"</label>
                    <input id="repeat" name="repeat" type="password" autocomplete="new-password" required />
                    <button type="submit">"Change password"</button>
                </ActionForm>
                {move || outcome(password.value().get(), "Password changed.")}
            </section>
            {children()}
        </main>
    }
}

/// Two-step sign-in: set it up (a QR code and the key as text, then a code to confirm),
/// see the recovery codes once, or turn it off where the role allows.
#[component]
fn MfaSection(saved: Option<String>, error: Option<String>, required: bool) -> impl IntoView {
    let status = Resource::new(|| (), |_| get_mfa());
    let message = match (saved.as_deref(), error.as_deref()) {
        (Some("mfa-off"), _) => Some(("notice", "Two-step sign-in is off.")),
        (_, Some("mfa-code")) => Some(("error", "That code is not right. Try the current one.")),
        (_, Some("mfa-throttled")) => Some(("error", "Too many wrong codes. Try again later.")),
        (_, Some("mfa-required")) => {
            Some(("error", "Your role needs two-step sign-in: it stays on."))
        }
        (_, Some("mfa-not-started")) => Some(("error", "Start the set-up again.")),
        (_, Some("mfa-password")) => Some(("error", "That password is not right.")),
        (_, Some("unavailable")) => Some(("error", "That did not work. Try again shortly.")),
        _ => None,
    };
    view! {
        <section class="panel" id="two-step" aria-labelledby="two-step-heading">
            <h2 id="two-step-heading">"Two-step sign-in"</h2>
            {required
                .then(|| {
                    view! {
                        <p class="error" role="alert">
                            "Your role needs two-step sign-in. Set it up to go on."
                        </p>
                    }
                })}
            {message.map(|(class, text)| view! { <p class=class role="status">{text}</p> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || status.get().map(|s| s.map(mfa_view))}
            </Suspense>
        </section>
    }
}

fn mfa_view(status: MfaStatus) -> AnyView {
    if !status.fresh_codes.is_empty() {
        return view! {
            <p class="notice" role="status">"Two-step sign-in is on."</p>
            <p>
                "Keep these recovery codes somewhere safe. Each signs you in once if you lose your phone. They are not shown again once you have kept them."
            </p>
            <ul class="recovery-codes" data-testid="recovery-codes">
                {status.fresh_codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect::<Vec<_>>()}
            </ul>
            <form class="form" method="post" action="/account/mfa/saved">
                <button type="submit">"I have kept them"</button>
            </form>
        }
        .into_any();
    }
    if status.enrolled {
        let left = format!("On, with {} recovery codes left.", status.recovery_left);
        return view! {
            <p data-testid="mfa-state">{left}</p>
            {(!status.required)
                .then(|| {
                    view! {
                        <form class="form" method="post" action="/account/mfa/disable">
                            <label for="mfa-off-code">"Code from your app, to turn it off"</label>
                            <input id="mfa-off-code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="32" required />
                            <button type="submit">"Turn off two-step sign-in"</button>
                        </form>
                    }
                })}
        }
        .into_any();
    }
    if let Some(pending) = status.pending {
        return view! {
            <ol class="steps">
                <li>
                    "Scan this code with an authenticator app (such as 1Password, Google Authenticator or Aegis):"
                    <div class="qr" role="img" aria-label="QR code for your authenticator app" inner_html=pending.svg></div>
                    "Or type this key into it: "
                    <code data-testid="mfa-secret">{pending.secret}</code>
                </li>
                <li>
                    <form class="form" method="post" action="/account/mfa/confirm">
                        <label for="mfa-code">"The 6-digit code it shows"</label>
                        <input id="mfa-code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="32" required />
                        <button type="submit">"Turn on two-step sign-in"</button>
                    </form>
                </li>
            </ol>
        }
        .into_any();
    }
    view! {
        <p data-testid="mfa-state">
            "Off. With it on, signing in also asks for a code from an app on your phone."
        </p>
        <form class="form" method="post" action="/account/mfa/start">
            <label for="mfa-password">"Your password, to set it up"</label>
            <input
                id="mfa-password"
                name="password"
                type="password"
                autocomplete="current-password"
                maxlength="128"
                required
            />
            <button type="submit">"Set up two-step sign-in"</button>
        </form>
    }
    .into_any()
}

/// What a form's action came to, said to the user.
pub fn outcome(result: Option<Result<(), ServerFnError>>, done: &'static str) -> impl IntoView {
    result.map(|r| match r {
        Ok(()) => view! { <p class="notice" role="status">{done}</p> }.into_any(),
        Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
    })
}

/// A server function's error as a sentence (without the framework's prefix).
pub fn error_text(e: &ServerFnError) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("error running server function: ")
        .unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}
