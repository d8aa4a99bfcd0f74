//! The search box above a list. It is a GET form, so it works before hydration and
//! without JavaScript; once hydrated, typing searches after a short pause: the list is
//! told (`on_search`) and the URL's `?q=` follows (replacing the history entry), so a
//! reload or a shared link shows the same list.

use std::time::Duration;

use leptos::prelude::*;

use super::paging::url;

/// How long typing must pause before the list is searched.
const DEBOUNCE: Duration = Duration::from_millis(300);

#[component]
pub fn SearchBox(
    /// The accessible name, e.g. "Search conversations".
    label: &'static str,
    placeholder: &'static str,
    /// The list's path.
    path: &'static str,
    /// Another filter kept while searching (the status tab), as `(name, value)`.
    #[prop(into, optional)]
    keep: Option<Signal<(&'static str, Option<String>)>>,
    initial: String,
    /// Called with the search (`None`: empty) once typing pauses or the form is sent.
    on_search: Callback<Option<String>>,
) -> impl IntoView {
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let input = NodeRef::<leptos::html::Input>::new();
    let go = move |text: String| {
        let kept = keep.map(|k| k.get_untracked());
        let mut params = vec![("q", Some(text.trim()))];
        if let Some((name, value)) = &kept {
            params.push((name, value.as_deref()));
        }
        replace_url(&url(path, &params));
        let text = text.trim();
        on_search.run((!text.is_empty()).then(|| text.to_owned()));
    };
    let schedule = move |text: String| {
        if let Some(pending) = timer.get_value() {
            pending.clear();
        }
        timer.set_value(set_timeout_with_handle(move || go(text), DEBOUNCE).ok());
    };
    view! {
        <form
            class="search"
            role="search"
            method="get"
            action=path
            on:submit=move |ev| {
                ev.prevent_default();
                if let Some(pending) = timer.get_value() {
                    pending.clear();
                }
                if let Some(input) = input.get_untracked() {
                    go(input.value());
                }
            }
        >
            <input
                node_ref=input
                type="search"
                name="q"
                aria-label=label
                placeholder=placeholder
                value=initial
                maxlength=crate::api::MAX_SEARCH
                autocomplete="off"
                on:input=move |ev| schedule(event_target_value(&ev))
            />
            {keep
                .map(|k| {
                    view! {
                        <input
                            type="hidden"
                            name=move || k.get().0
                            value=move || k.get().1.unwrap_or_default()
                        />
                    }
                })}
            <kbd class="hint" aria-hidden="true">"/"</kbd>
        </form>
    }
}

/// Puts `href` in the address bar in place of the current entry, without loading it.
fn replace_url(href: &str) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}
