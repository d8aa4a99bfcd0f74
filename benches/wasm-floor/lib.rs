//! The WASM floor: what a browser downloads for the least of what a page of the dashboard
//! does, built with the product's stack and release settings. One page lists rows fetched
//! by a server function, narrowed by a search input, and appends rows that arrive as JSON
//! over a WebSocket; a second route exists so the router is real. Nothing else: no
//! header, no live state machine, no infinite scroll, no styling.
//!
//! Built twice by `./measure`: `hydrate` (the product's design: the page hydrates and the
//! router runs in the browser) and `islands` (only the list hydrates, as an island).
//! What the product's pages add is their own code on top of this floor.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub status: String,
    pub count: u32,
}

#[server]
pub async fn rows(search: String, after: Option<String>) -> Result<Vec<Row>, ServerFnError> {
    let _ = (search, after);
    Ok(Vec::new())
}

#[cfg(not(feature = "islands"))]
#[component]
pub fn App() -> impl IntoView {
    use leptos_router::components::{Route, Router, Routes};
    use leptos_router::path;
    view! {
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("/") view=List />
                <Route path=path!("/rows/:id") view=|| view! { <p>"One row"</p> } />
            </Routes>
        </Router>
    }
}

#[cfg_attr(feature = "islands", island)]
#[cfg_attr(not(feature = "islands"), component)]
pub fn List() -> impl IntoView {
    let (search, set_search) = signal(String::new());
    let fetched = Resource::new(move || search.get(), |search| rows(search, None));
    let (live, set_live) = signal(Vec::<Row>::new());
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            use futures::StreamExt;
            use gloo_net::websocket::{Message, futures::WebSocket};
            let Ok(socket) = WebSocket::open("/feed") else {
                return;
            };
            let (_, mut frames) = socket.split();
            while let Some(Ok(Message::Text(text))) = frames.next().await {
                if let Ok(row) = serde_json::from_str::<Row>(&text) {
                    set_live.update(|rows| rows.push(row));
                }
            }
        });
    });
    view! {
        <input on:input=move |ev| set_search.set(event_target_value(&ev)) />
        <Suspense fallback=|| "Loading…">
            <ul>
                {move || {
                    fetched
                        .get()
                        .map(|rows| {
                            rows.unwrap_or_default()
                                .into_iter()
                                .map(|row| view! { <li>{row.name} " " {row.count}</li> })
                                .collect_view()
                        })
                }}
            </ul>
        </Suspense>
        <ol>
            <For each=move || live.get() key=|row| row.id.clone() let:row>
                <li>{row.status}</li>
            </For>
        </ol>
    }
}

#[cfg(not(feature = "islands"))]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}

#[cfg(feature = "islands")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
