//! The search box above a list. It is a GET form, so it works before hydration and
//! without JavaScript; once hydrated, typing searches after a short pause: the list's
//! query ([`ListQuery`]) changes and the URL's `?q=` follows (replacing the history
//! entry), so a reload or a shared link shows the same list.

use std::time::Duration;

use leptos::prelude::*;

use super::paging::url;

/// How long typing must pause before the list is searched.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// What a searchable list shows, as its page keeps it: the search, and the page to start
/// from (`after`, from a "Show older" link followed without JavaScript).
#[derive(Clone, Copy)]
pub struct ListQuery {
    pub search: RwSignal<Option<String>>,
    pub after: RwSignal<Option<String>>,
}

impl ListQuery {
    pub fn new(search: Option<String>, after: Option<String>) -> Self {
        Self {
            search: RwSignal::new(search),
            after: RwSignal::new(after),
        }
    }

    /// A new search (`None`: none) starts from the top of the list.
    fn search_for(self, search: Option<String>) {
        self.after.set(None);
        self.search.set(search);
    }
}

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
    /// The list's query, searched once typing pauses or the form is sent.
    query: ListQuery,
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
        query.search_for((!text.is_empty()).then(|| text.to_owned()));
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
                value=query.search.get_untracked().unwrap_or_default()
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
