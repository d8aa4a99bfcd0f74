//! Infinite scroll. The end of a list is a plain link to its next page, so it works
//! without JavaScript; once hydrated, the link loads the next page in place when clicked
//! or when it scrolls within reach of the viewport.

use std::future::Future;

use leptos::prelude::*;

/// What loads the next page, one at a time: `fetch` asks for the page after the cursor
/// in `next`, and `land` takes it in (and sets `next` from it). A failed fetch leaves the
/// list as it is, to be tried again from the link.
pub fn next_page<P, Fut>(
    next: RwSignal<Option<String>>,
    loading: RwSignal<bool>,
    fetch: impl Fn(String) -> Fut + Send + Sync + 'static,
    land: impl Fn(P) + Copy + Send + Sync + 'static,
) -> Callback<()>
where
    Fut: Future<Output = Result<P, ServerFnError>> + 'static,
{
    Callback::new(move |()| {
        let Some(cursor) = next.get_untracked() else {
            return;
        };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        let page = fetch(cursor);
        leptos::task::spawn_local(async move {
            if let Ok(page) = page.await {
                land(page);
            }
            loading.set(false);
        });
    })
}

/// Rendered while `href` (the next page's URL) is `Some`.
#[component]
pub fn LoadMore(
    href: Signal<Option<String>>,
    loading: Signal<bool>,
    label: &'static str,
    load: Callback<()>,
) -> impl IntoView {
    let sentinel = NodeRef::<leptos::html::A>::new();
    #[cfg(feature = "hydrate")]
    {
        let check = move || {
            if loading.get_untracked() || href.with_untracked(Option::is_none) {
                return;
            }
            let (Some(link), Some(window)) = (sentinel.get_untracked(), web_sys::window()) else {
                return;
            };
            let height = window
                .inner_height()
                .ok()
                .and_then(|h| h.as_f64())
                .unwrap_or(0.0);
            if link.get_bounding_client_rect().top() < height + 600.0 {
                load.run(());
            }
        };
        let listener = window_event_listener(leptos::ev::scroll, move |_| check());
        on_cleanup(move || listener.remove());
        // After the first render and after each page lands, the end may still be in view.
        Effect::new(move |_| {
            let _ = (loading.get(), href.get());
            request_animation_frame(check);
        });
    }
    view! {
        <Show when=move || href.with(Option::is_some)>
            <a
                class="more"
                node_ref=sentinel
                href=move || href.get().unwrap_or_default()
                aria-busy=move || loading.get().to_string()
                on:click=move |ev| {
                    ev.prevent_default();
                    load.run(());
                }
            >
                {move || if loading.get() { "Loading…" } else { label }}
            </a>
        </Show>
    }
}

/// `path` with the query parameters that have a value, percent-encoded.
pub fn url(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(v)))
        })
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, super::QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn builds_list_urls() {
        assert_eq!(
            url("/conversations", &[("q", None), ("status", Some(""))]),
            "/conversations"
        );
        assert_eq!(
            url(
                "/conversations",
                &[("q", Some("Zoë & co")), ("status", Some("paused"))]
            ),
            "/conversations?q=Zo%C3%AB%20%26%20co&status=paused"
        );
    }
}
