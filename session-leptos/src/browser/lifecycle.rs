//! What a page's life brings: an idle tab whose token runs out, the browser going offline and back.
//! Both use Leptos' own timer and listener helpers, and stop when the reactive owner that started them is
//! cleaned up.

use std::time::Duration;

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen_futures::spawn_local;

use super::client::BrowserClient;

/// Renews the token of an open but idle tab: a check every `period` that compares wall-clock time (robust to
/// the device sleeping, unlike one long timer), and one whenever the tab becomes visible again. A hidden tab
/// does not renew on the timer, so that the server's idle timeout still means something; its requests still
/// renew on demand.
pub fn keep_fresh(api: &BrowserClient, period: Duration) {
    let check = {
        let api = api.clone();
        move || {
            let api = api.clone();
            spawn_local(async move {
                let _ = api.renew_if_due().await;
            });
        }
    };
    let on_timer = {
        let check = check.clone();
        move || {
            if document().visibility_state() == web_sys::VisibilityState::Visible {
                check();
            }
        }
    };
    let interval = set_interval_with_handle(on_timer, period).ok();
    // `visibilitychange` is fired at the document and bubbles to the window.
    let visible = window_event_listener_untyped("visibilitychange", move |_| {
        if document().visibility_state() == web_sys::VisibilityState::Visible {
            check();
        }
    });
    on_cleanup(move || {
        if let Some(interval) = interval {
            interval.clear();
        }
        visible.remove();
    });
}

/// Whether the browser is online, as TanStack Query v5 has it: online at first, then whatever the `online` and
/// `offline` events say (`navigator.onLine` can be `false` on a working network in Chromium, which would keep
/// the page waiting for good). Back online, the client forgets its backoff before anyone hears of it, so what
/// reloads then is not refused.
pub fn use_online_signal(api: &BrowserClient) -> ReadSignal<bool> {
    let online = RwSignal::new(true);
    let api = api.clone();
    let went_online = window_event_listener(ev::online, move |_| {
        api.network_restored();
        online.set(true);
    });
    let went_offline = window_event_listener(ev::offline, move |_| online.set(false));
    on_cleanup(move || {
        went_online.remove();
        went_offline.remove();
    });
    online.read_only()
}
