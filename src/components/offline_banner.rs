use leptos::prelude::*;

/// Whether the browser is online (`navigator.onLine`, kept current by the online and offline events).
#[derive(Clone, Copy)]
pub struct Online(pub ReadSignal<bool>);

/// A live region that is there from the start; the notice is inserted when the browser goes offline.
#[component]
pub fn OfflineBanner() -> impl IntoView {
    let Online(online) = expect_context::<Online>();
    view! {
        <div class="live-region" role="status">
            {move || {
                (!online.get()).then(|| {
                    view! {
                        <p class="banner offline">
                            "You are offline. Your session is kept; data will reload when you are back online."
                        </p>
                    }
                })
            }}
        </div>
    }
}
