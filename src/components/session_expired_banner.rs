use leptos::prelude::*;

use crate::components::{Announce, LiveRegion};

/// What the app tells the user about the session: that the server ended it (so the sign-in page can say why
/// the user is there), or that this browser keeps it only in this tab's memory.
#[derive(Clone, Copy)]
pub struct SessionNotice {
    pub expired: RwSignal<bool>,
    pub kept_in_memory: RwSignal<bool>,
}

impl SessionNotice {
    pub fn new() -> Self {
        Self { expired: RwSignal::new(false), kept_in_memory: RwSignal::new(false) }
    }
}

impl Default for SessionNotice {
    fn default() -> Self {
        Self::new()
    }
}

/// The reason the user is on the sign-in page.
#[component]
pub fn SessionExpiredBanner() -> impl IntoView {
    let notice = expect_context::<SessionNotice>();
    view! {
        <LiveRegion announce=Announce::Now>
            {move || {
                notice.expired.get().then(|| {
                    view! {
                        <div class="banner">
                            <p>"Your session has expired. Please sign in again."</p>
                            <button
                                type="button"
                                class="dismiss"
                                aria-label="Dismiss"
                                on:click=move |_| notice.expired.set(false)
                            >
                                "×"
                            </button>
                        </div>
                    }
                })
            }}
        </LiveRegion>
    }
}
