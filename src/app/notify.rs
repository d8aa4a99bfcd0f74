//! Desktop notifications when a conversation enters the attention queue, on whichever
//! page the supervisor is. Opt-in: the overview's switch asks the browser's permission,
//! and the choice is remembered per account in this browser's storage. Notifying is the
//! browser's work: it knows the queue when it opts in (`?attention=1`) and the waits
//! under way (`?waiting=1`), then follows the live feed and its clock, and tells of each
//! conversation that enters the queue once until it leaves it.

use leptos::prelude::*;

/// The switch's state, shared by the overview's switch and the watcher in the header.
#[derive(Clone, Copy)]
pub struct Notify {
    /// The signed-in account's choice.
    pub on: RwSignal<bool>,
    /// The account whose choice `on` is, once known.
    user: RwSignal<Option<String>>,
    /// The browser refuses notifications to this site.
    denied: RwSignal<bool>,
}

impl Notify {
    pub fn provide() {
        provide_context(Self {
            on: RwSignal::new(false),
            user: RwSignal::new(None),
            denied: RwSignal::new(false),
        });
    }

    pub fn get() -> Option<Self> {
        use_context::<Self>()
    }

    /// `user` is signed in: their remembered choice applies.
    pub fn signed_in(&self, user: &str) {
        if self.user.get_untracked().as_deref() == Some(user) {
            return;
        }
        self.user.set(Some(user.to_owned()));
        #[cfg(feature = "hydrate")]
        {
            let remembered = browser::remembered(user);
            self.denied.set(browser::denied());
            self.on.set(remembered && browser::granted());
        }
    }

    /// The supervisor switches notifications `on` or off.
    fn choose(&self, on: bool) {
        let Some(user) = self.user.get_untracked() else {
            return;
        };
        #[cfg(feature = "hydrate")]
        {
            browser::remember(&user, on);
            if !on {
                self.on.set(false);
                return;
            }
            let this = *self;
            leptos::task::spawn_local(async move {
                let granted = browser::ask().await;
                this.denied.set(!granted);
                this.on.set(granted);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (user, on);
    }
}

/// The overview's switch.
#[component]
pub fn NotifyToggle() -> impl IntoView {
    let Some(notify) = Notify::get() else {
        return ().into_any();
    };
    view! {
        <label class="notify">
            <input
                type="checkbox"
                data-testid="notify-toggle"
                prop:checked=move || notify.on.get()
                // A property: a reactive boolean attribute is not updated after hydration
                // here (tachys 0.2), the property is.
                prop:disabled=move || notify.user.get().is_none()
                on:change=move |ev| notify.choose(event_target_checked(&ev))
            />
            "Desktop notifications when a conversation needs attention"
            {move || {
                notify
                    .denied
                    .get()
                    .then(|| view! { <span class="muted">" (blocked by the browser)"</span> })
            }}
        </label>
    }
    .into_any()
}

/// Watches the queue while notifications are on. Renders nothing.
#[component]
pub fn Notifier() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    if let Some(notify) = Notify::get() {
        watch::start(notify);
    }
}

#[cfg(feature = "hydrate")]
mod watch {
    use std::collections::{HashMap, HashSet};

    use leptos::prelude::*;

    use super::{Notify, browser};
    use crate::api::attention::{self, Reason};
    use crate::api::{ConversationSummary, list_conversations};
    use crate::app::live::LiveFeed;

    /// Every page of set `among` (at most 20), and when waits alert.
    async fn every(among: &str) -> Option<(i64, Vec<ConversationSummary>)> {
        let mut all = Vec::new();
        let mut after = None;
        for _ in 0..20 {
            let page = list_conversations(None, None, after, Some(among.to_owned()))
                .await
                .ok()?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Some((page.wait_alert_ms, all)),
            }
        }
        None
    }

    #[derive(Default)]
    struct Watch {
        /// The queue and the waits as this tab knows them.
        known: HashMap<String, ConversationSummary>,
        /// Those in the queue, told of (or there when notifications were turned on).
        inside: HashSet<String>,
        alert_ms: i64,
        ready: bool,
    }

    pub fn start(notify: Notify) {
        let watch = StoredValue::new(Watch::default());
        let navigate = leptos_router::hooks::use_navigate();
        let show = StoredValue::new(move |c: &ConversationSummary, reasons: &[Reason]| {
            browser::show(c, reasons, navigate.clone());
        });
        let check = move |id: &str| {
            let now = js_sys::Date::now() as i64;
            let told = watch.try_update_value(|w| {
                let c = w.known.get(id)?;
                let reasons = attention::reasons(c, now, w.alert_ms);
                if reasons.is_empty() {
                    w.inside.remove(id);
                    if attention::next_change(c, now, w.alert_ms).is_none() {
                        w.known.remove(id);
                    }
                    return None;
                }
                w.inside.insert(id.to_owned()).then(|| (c.clone(), reasons))
            });
            if let Some(Some((c, reasons))) = told {
                show.with_value(|show| show(&c, &reasons));
            }
        };
        let seed = move || {
            watch.set_value(Watch::default());
            if !notify.on.get_untracked() {
                return;
            }
            leptos::task::spawn_local(async move {
                let (Some(queue), Some(waiting)) =
                    (every("attention=1").await, every("waiting=1").await)
                else {
                    return;
                };
                watch.update_value(|w| {
                    w.alert_ms = queue.0;
                    for c in waiting.1.into_iter().chain(queue.1) {
                        w.inside.extend(
                            (!attention::reasons(&c, js_sys::Date::now() as i64, w.alert_ms)
                                .is_empty())
                            .then(|| c.id.clone()),
                        );
                        w.known.insert(c.id.clone(), c);
                    }
                    w.ready = true;
                });
            });
        };
        Effect::new(move |_| {
            if notify.on.get() {
                seed();
            } else {
                watch.set_value(Watch::default());
            }
        });
        let feed = LiveFeed::get();
        feed.follow(
            feed.mark(),
            move |change| {
                let c = &change.conversation;
                let tracked = watch
                    .try_update_value(|w| {
                        if !w.ready || w.known.get(&c.id).is_some_and(|k| k.version >= c.version) {
                            return false;
                        }
                        w.known.insert(c.id.clone(), c.clone());
                        true
                    })
                    .unwrap_or(false);
                if tracked {
                    check(&c.id);
                }
            },
            seed,
        );
        // What time alone changes: a wait becoming an alert, a referral expiring.
        let ticking = set_interval_with_handle(
            move || {
                let ids: Vec<String> = watch
                    .try_with_value(|w| w.known.keys().cloned().collect())
                    .unwrap_or_default();
                for id in ids {
                    check(&id);
                }
            },
            std::time::Duration::from_secs(2),
        );
        on_cleanup(move || {
            if let Ok(handle) = ticking {
                handle.clear();
            }
        });
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    use crate::api::ConversationSummary;
    use crate::api::attention::Reason;

    fn key(user: &str) -> String {
        format!("billie.notify.{user}")
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn remembered(user: &str) -> bool {
        storage()
            .and_then(|s| s.get_item(&key(user)).ok().flatten())
            .is_some_and(|v| v == "on")
    }

    pub fn remember(user: &str, on: bool) {
        if let Some(s) = storage() {
            let _ = if on {
                s.set_item(&key(user), "on")
            } else {
                s.remove_item(&key(user))
            };
        }
    }

    /// Whether this browser has the Notification API at all.
    fn supported() -> bool {
        web_sys::window()
            .and_then(|w| js_sys::Reflect::has(&w, &"Notification".into()).ok())
            .unwrap_or(false)
    }

    pub fn granted() -> bool {
        supported() && Notification::permission() == NotificationPermission::Granted
    }

    pub fn denied() -> bool {
        !supported() || Notification::permission() == NotificationPermission::Denied
    }

    /// Asks the browser's permission (a prompt, unless it was answered before).
    pub async fn ask() -> bool {
        if !supported() {
            return false;
        }
        if let Ok(promise) = Notification::request_permission() {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
        granted()
    }

    /// Tells of `c` entering the queue for `reasons`; a click shows the conversation.
    pub fn show(
        c: &ConversationSummary,
        reasons: &[Reason],
        navigate: impl Fn(&str, leptos_router::NavigateOptions) + 'static,
    ) {
        if !granted() {
            return;
        }
        let who = c.customer_name.as_deref().unwrap_or("A customer");
        let title = format!("Needs attention: {who}");
        let why: Vec<&str> = reasons.iter().map(|r| r.label()).collect();
        let body = match &c.application_number {
            Some(app) => format!("{} · {app}", why.join(", ")),
            None => why.join(", "),
        };
        let options = NotificationOptions::new();
        options.set_body(&body);
        options.set_tag(&c.id);
        let Ok(notification) = Notification::new_with_options(&title, &options) else {
            return;
        };
        let href = format!("/conversations/{}", c.id);
        let click = wasm_bindgen::closure::Closure::once_into_js(move || {
            if let Some(w) = web_sys::window() {
                let _ = w.focus();
            }
            navigate(&href, Default::default());
        });
        notification.set_onclick(Some(click.unchecked_ref()));
    }
}
