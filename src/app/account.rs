//! `/account`: the signed-in user's own profile (name and avatar) and password.

use leptos::prelude::*;
use leptos::server::ServerAction;

use super::header::{Header, ProfileChanged};
use super::live::LiveFeed;
use crate::api::{ChangePassword, UpdateProfile, whoami};

/// The route: what the avatar upload (a plain form post) came back with is in the URL.
#[component]
pub fn AccountRoute() -> impl IntoView {
    let [saved, error] = super::query_params(["saved", "error"]);
    view! { <AccountPage saved error /> }
}

#[island(lazy)]
fn AccountPage(saved: Option<String>, error: Option<String>) -> impl IntoView {
    super::page_context();
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
        <Header />
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
                                    <p class="muted">{me.email.clone()} " · " {me.role.clone()}</p>
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
        </main>
    }
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
