//! "Now", for the relative times on the page ("2 min ago"). One signal per page, moved on
//! every 15 seconds in the browser, so every card's age stays right without a refetch.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Clock(RwSignal<i64>);

impl Clock {
    pub fn provide() {
        let clock = Self(RwSignal::new(now_ms()));
        provide_context(clock);
        #[cfg(feature = "hydrate")]
        Effect::new(move |started: Option<()>| {
            if started.is_none() {
                // The page was rendered on the server a moment ago: catch up at once.
                clock.0.set(now_ms());
                set_interval(
                    move || clock.0.set(now_ms()),
                    std::time::Duration::from_secs(15),
                );
            }
        });
    }

    /// Epoch milliseconds; tracked, so a view reading it re-renders as time passes.
    pub fn now() -> i64 {
        use_context::<Self>().map_or_else(now_ms, |c| c.0.get())
    }

    /// The time now, not tracked: for a decision made once, not a view.
    pub fn now_untracked() -> i64 {
        now_ms()
    }
}

#[cfg(feature = "hydrate")]
fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

#[cfg(not(feature = "hydrate"))]
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
