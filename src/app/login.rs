//! The sign-in pages: plain forms posted to `/login` and, for accounts with two-step
//! sign-in, `/login/mfa`, so they work before the WASM has loaded (and without
//! JavaScript at all).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_default());
    let error = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("invalid") => Some("That email and password do not match an account.".to_owned()),
            Some("too_long") => Some(
                "That email or password is too long: 254 and 128 characters at most.".to_owned(),
            ),
            Some("throttled") => Some(format!(
                "Too many failed sign-ins. Try again in {}.",
                q.get("wait").unwrap_or_else(|| "a few minutes".to_owned())
            )),
            Some("expired") => Some(
                "The second step took too long, or was already used. Sign in again.".to_owned(),
            ),
            Some(_) => Some("Signing in is not possible right now. Try again shortly.".to_owned()),
            None => None,
        })
    };
    let notice = move || {
        query.with(|q| match q.get("changed").as_deref() {
            Some("password") => Some("Your password is changed. Sign in with the new one."),
            _ => q
                .get("ended")
                .map(|_| "Your session has ended. Sign in again."),
        })
    };
    view! {
        <main class="login">
            <form method="post" action="/login" class="card">
                <h1>"Billie supervisor"</h1>
                <p class="muted">"Sign in to watch conversations live."</p>
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || notice().map(|n| view! { <p class="notice" role="status">{n}</p> })}
                <label for="email">"Email"</label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="username"
                    maxlength="254"
                    required
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    maxlength="128"
                    required
                />
                <input type="hidden" name="next" value=next />
                <button type="submit">"Sign in"</button>
            </form>
        </main>
    }
}

/// `/login/mfa`: the second step of a sign-in with two steps.
#[component]
pub fn MfaPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("invalid") => Some("That code is not right, or was already used.".to_owned()),
            Some("throttled") => Some(format!(
                "Too many wrong codes. Try again in {}.",
                q.get("wait").unwrap_or_else(|| "a few minutes".to_owned())
            )),
            Some(_) => Some("Signing in is not possible right now. Try again shortly.".to_owned()),
            None => None,
        })
    };
    view! {
        <main class="login">
            <form method="post" action="/login/mfa" class="card">
                <h1>"Two-step sign-in"</h1>
                <p class="muted">
                    "Type the 6-digit code your authenticator app shows, or one of your recovery codes."
                </p>
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <label for="code">"Code"</label>
                <input
                    id="code"
                    name="code"
                    type="text"
                    inputmode="text"
                    autocomplete="one-time-code"
                    autocapitalize="characters"
                    spellcheck="false"
                    maxlength="32"
                    required
                    autofocus
                />
                <button type="submit">"Sign in"</button>
                <p class="muted">
                    <a href="/login">"Start again"</a>
                </p>
            </form>
        </main>
    }
}
