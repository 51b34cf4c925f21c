use leptos::prelude::*;
use session_leptos::use_online;

use crate::components::{Announce, LiveRegion};

/// Says so while the browser is offline.
#[component]
pub fn OfflineBanner() -> impl IntoView {
    let online = use_online();
    view! {
        <LiveRegion announce=Announce::Politely>
            {move || {
                (!online.get()).then(|| {
                    view! {
                        <p class="banner offline">
                            "You are offline. Your session is kept; data will reload when you are back online."
                        </p>
                    }
                })
            }}
        </LiveRegion>
    }
}
