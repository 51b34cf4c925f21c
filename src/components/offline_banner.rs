use leptos::prelude::*;

use crate::components::{Announce, LiveRegion};

/// Whether the browser is online (`navigator.onLine`, kept current by the online and offline events).
#[derive(Clone, Copy)]
pub struct Online(pub ReadSignal<bool>);

/// Says so while the browser is offline.
#[component]
pub fn OfflineBanner() -> impl IntoView {
    let Online(online) = expect_context::<Online>();
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
