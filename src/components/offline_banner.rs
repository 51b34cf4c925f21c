use leptos::prelude::*;

/// Whether the browser is online (`navigator.onLine`, kept current by the online and offline events).
#[derive(Clone, Copy)]
pub struct Online(pub ReadSignal<bool>);

#[component]
pub fn OfflineBanner() -> impl IntoView {
    let Online(online) = expect_context::<Online>();
    move || {
        (!online.get()).then(|| {
            view! {
                <p class="banner offline" role="status">
                    "You are offline. Your session is kept; data will reload when you are back online."
                </p>
            }
        })
    }
}
