//! What a list keeps when the supervisor leaves it, so that Back (or Forward) to it shows
//! it as it was: the same search and filter, every page that was loaded, the scroll
//! position and the card that was opened, at once and without a fetch. The list then
//! applies what the live feed brought meanwhile, from where it had got to.
//!
//! Only Back and Forward restore: a link to a list (the header's, a status tab) shows it
//! afresh from the top, as a link does. One kept state per list (the last one left), for
//! the life of the tab; a reload starts afresh.

use std::any::Any;
use std::collections::HashMap;

use leptos::prelude::*;

use super::search::ListQuery;

/// A list's state as it was left, and where the window was.
pub struct Kept<T> {
    pub state: T,
    pub scroll_y: f64,
    /// The `data-id` of the card that had the focus (the one opened), if any.
    pub focused: Option<String>,
}

type Slot = (String, Box<dyn Any + Send + Sync>);

#[derive(Clone, Copy)]
pub struct ListMemory {
    /// Per list path: the URL of what was kept (see [`list_key`]) and the kept state.
    kept: StoredValue<HashMap<&'static str, Slot>>,
    /// The URL (as [`list_key`] writes it) the last Back or Forward went to, until a list
    /// has looked at it.
    popped: StoredValue<Option<String>>,
}

impl ListMemory {
    pub fn provide() {
        let memory = Self {
            kept: StoredValue::new(HashMap::new()),
            popped: StoredValue::new(None),
        };
        #[cfg(feature = "hydrate")]
        {
            // Lives as long as the tab. Dispatched before the router renders the page it
            // goes to (that happens in an effect, after the event).
            let listener = window_event_listener(leptos::ev::popstate, move |_| {
                memory.popped.set_value(browser::current_key());
            });
            std::mem::forget(listener);
        }
        provide_context(memory);
    }

    fn get() -> Option<Self> {
        use_context::<Self>()
    }

    /// What was kept for the list at `path` showing `key`, if the page is being shown by
    /// Back or Forward to that very URL. Taken: a list is restored once.
    pub fn recall<T: Send + Sync + 'static>(path: &'static str, key: &str) -> Option<Kept<T>> {
        let memory = Self::get()?;
        let popped = memory.popped.try_update_value(Option::take).flatten();
        if popped.as_deref() != Some(key) {
            return None;
        }
        let (kept_key, state) = memory.kept.try_update_value(|k| k.remove(path)).flatten()?;
        if kept_key != key {
            return None;
        }
        state.downcast::<Kept<T>>().ok().map(|kept| *kept)
    }

    /// A list page's start: what it kept for Back to `key`, if this is Back to it, and
    /// `restoring`, true while the page shows that (until its search or start changes:
    /// then it fetches). `query` is the URL's search and start, as the page keeps them.
    pub fn start_list<T: Send + Sync + 'static>(
        path: &'static str,
        key: &str,
        query: ListQuery,
    ) -> (StoredValue<Option<Kept<T>>>, RwSignal<bool>) {
        let restored = StoredValue::new(Self::recall::<T>(path, key));
        let restoring = RwSignal::new(restored.with_value(Option::is_some));
        Effect::new(move |first: Option<()>| {
            query.search.track();
            query.after.track();
            if first.is_some() {
                restoring.set(false);
            }
        });
        (restored, restoring)
    }

    /// Keeps `kept` for the list at `path`, showing `key`, in place of what was kept.
    fn keep<T: Send + Sync + 'static>(path: &'static str, key: String, kept: Kept<T>) {
        if let Some(memory) = Self::get() {
            memory.kept.try_update_value(|k| {
                k.insert(path, (key, Box::new(kept)));
            });
        }
    }
}

/// A list's URL, the same however its query was written: the non-empty parameters sorted
/// by name, percent-encoded.
pub fn list_key(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut params = params.to_vec();
    params.sort_by_key(|(name, _)| *name);
    super::paging::url(path, &params)
}

/// Where the supervisor is in the list at `path`, followed while it is shown: how far the
/// window is scrolled and the card that last had the focus (clicking a card's link
/// focuses it). Followed rather than read when leaving: by then the router may have
/// scrolled to the top for the next page.
#[derive(Clone, Copy)]
pub struct Place(StoredValue<(f64, Option<String>)>);

impl Place {
    pub fn track(path: &'static str) -> Self {
        let place = Self(StoredValue::new((0.0, None)));
        #[cfg(feature = "hydrate")]
        {
            let on_scroll = window_event_listener(leptos::ev::scroll, move |_| {
                if browser::showing(path)
                    && let Some(y) = browser::scroll_y()
                {
                    place.0.update_value(|(scroll_y, _)| *scroll_y = y);
                }
            });
            let on_focus = window_event_listener(leptos::ev::focusin, move |ev| {
                if let Some(id) = browser::card_of(&ev) {
                    place.0.update_value(|(_, focused)| *focused = Some(id));
                }
            });
            on_cleanup(move || {
                on_scroll.remove();
                on_focus.remove();
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = path;
        place
    }

    /// Keeps `state`, the list at `path` showing `key`, with where the supervisor was in it.
    pub fn keep<T: Send + Sync + 'static>(self, path: &'static str, key: String, state: T) {
        let (scroll_y, focused) = self.0.try_get_value().unwrap_or_default();
        ListMemory::keep(
            path,
            key,
            Kept {
                state,
                scroll_y,
                focused,
            },
        );
    }
}

/// Scrolls back to `scroll_y` and focuses the card `focused` once the list is drawn.
pub fn restore_place(scroll_y: f64, focused: Option<String>) {
    #[cfg(feature = "hydrate")]
    request_animation_frame(move || browser::restore_place(scroll_y, focused));
    #[cfg(not(feature = "hydrate"))]
    let _ = (scroll_y, focused);
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    /// The address bar's URL as [`super::list_key`] writes it.
    pub fn current_key() -> Option<String> {
        let location = web_sys::window()?.location();
        let path = location.pathname().ok()?;
        let search = web_sys::UrlSearchParams::new_with_str(&location.search().ok()?).ok()?;
        let mut pairs = Vec::new();
        for entry in search.entries() {
            let entry: js_sys::Array = entry.ok()?.dyn_into().ok()?;
            pairs.push((entry.get(0).as_string()?, entry.get(1).as_string()?));
        }
        let params: Vec<(&str, Option<&str>)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        Some(super::list_key(&path, &params))
    }

    /// Whether the address bar shows the list at `path` (not the page being moved to).
    pub fn showing(path: &str) -> bool {
        web_sys::window()
            .and_then(|w| w.location().pathname().ok())
            .as_deref()
            == Some(path)
    }

    pub fn scroll_y() -> Option<f64> {
        web_sys::window()?.scroll_y().ok()
    }

    /// The `data-id` of the list card the focus event `ev` went into, if it went into one.
    pub fn card_of(ev: &web_sys::FocusEvent) -> Option<String> {
        let target: web_sys::Element = ev.target()?.dyn_into().ok()?;
        target
            .closest("[data-nav-list] [data-id]")
            .ok()
            .flatten()?
            .get_attribute("data-id")
    }

    pub fn restore_place(scroll_y: f64, focused: Option<String>) {
        let Some(window) = web_sys::window() else {
            return;
        };
        window.scroll_to_with_x_and_y(0.0, scroll_y);
        let link = focused.and_then(|id| {
            let selector = format!("[data-id=\"{}\"] .card-link", id.replace(['"', '\\'], ""));
            window
                .document()?
                .query_selector(&selector)
                .ok()
                .flatten()?
                .dyn_into::<web_sys::HtmlElement>()
                .ok()
        });
        if let Some(link) = link {
            let options = web_sys::FocusOptions::new();
            options.set_prevent_scroll(true);
            let _ = link.focus_with_options(&options);
        }
    }
}
