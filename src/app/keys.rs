//! Keyboard use, for supervisors who live in the dashboard: `/` focuses the search, `j`
//! and `k` move through the list, Enter opens the focused card (it is a link), Esc leaves
//! a search box or goes back from a conversation or customer to the list.

#[cfg(feature = "hydrate")]
pub fn install() {
    // One listener for the life of the tab, from the main module: it works on every page,
    // before a lazy page's module has loaded.
    let _listener = leptos::prelude::window_event_listener(leptos::ev::keydown, browser::on_key);
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use web_sys::{Document, HtmlElement, KeyboardEvent};

    pub fn on_key(ev: KeyboardEvent) {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || ev.default_prevented() {
            return;
        }
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let active = document
            .active_element()
            .and_then(|el| el.dyn_into::<HtmlElement>().ok());
        let typing = active.as_ref().is_some_and(|el| {
            matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || el.is_content_editable()
        });
        match ev.key().as_str() {
            "Escape" if typing => {
                if let Some(el) = active {
                    let _ = el.blur();
                }
            }
            "Escape" => back(),
            _ if typing => {}
            "/" => {
                if let Some(search) = find(&document, "input[type=search]") {
                    ev.prevent_default();
                    let _ = search.focus();
                }
            }
            "j" => step(&document, active.as_ref(), 1, &ev),
            "k" => step(&document, active.as_ref(), -1, &ev),
            _ => {}
        }
    }

    fn find(document: &Document, selector: &str) -> Option<HtmlElement> {
        document
            .query_selector(selector)
            .ok()
            .flatten()
            .and_then(|el| el.dyn_into::<HtmlElement>().ok())
    }

    /// Focuses the card `by` places from the focused one (the first, with none focused).
    fn step(document: &Document, active: Option<&HtmlElement>, by: i32, ev: &KeyboardEvent) {
        let Ok(links) = document.query_selector_all("[data-nav-list] .card-link") else {
            return;
        };
        let count = links.length();
        if count == 0 {
            return;
        }
        let current = (0..count).find(|&i| {
            links
                .item(i)
                .zip(active)
                .is_some_and(|(link, active)| link == ***active)
        });
        let target = match current {
            Some(i) => (i as i64 + i64::from(by)).clamp(0, i64::from(count) - 1) as u32,
            None => 0,
        };
        if let Some(link) = links
            .item(target)
            .and_then(|n| n.dyn_into::<HtmlElement>().ok())
        {
            ev.prevent_default();
            let _ = link.focus();
        }
    }

    /// From a conversation or a customer back to where the supervisor came from (or the
    /// list, for a page opened directly).
    fn back() {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Ok(path) = window.location().pathname() else {
            return;
        };
        let parent = ["/conversations/", "/customers/"]
            .into_iter()
            .find(|p| path.starts_with(p))
            .map(|p| p.trim_end_matches('/'));
        let Some(parent) = parent else { return };
        match window.history() {
            Ok(history) if history.length().unwrap_or(0) > 1 => {
                let _ = history.back();
            }
            _ => {
                let _ = window.location().set_href(parent);
            }
        }
    }
}
