use leptos::prelude::*;
use session_leptos::use_session_notice;

use crate::components::{Announce, LiveRegion};

/// Where localStorage refused the token, the session lives in this tab's memory only: say so rather than let a
/// reload land on an empty sign-in form unexplained. Where the browser could not keep a device key, the session
/// is not bound to it: say that too.
#[component]
pub fn StorageNote() -> impl IntoView {
    let notice = use_session_notice();
    view! {
        <LiveRegion announce=Announce::Politely>
            {move || {
                notice.kept_in_memory.get().then(|| {
                    view! {
                        <p class="banner">
                            "This browser does not let the app keep your sign-in: it ends when you reload or close \
                             this tab."
                        </p>
                    }
                })
            }}
            {move || {
                notice.without_device_key.get().then(|| {
                    view! {
                        <p class="banner">
                            "Your sign-in is not tied to this browser (it cannot keep a device key here): a copied token \
                             or cookie would work elsewhere."
                        </p>
                    }
                })
            }}
        </LiveRegion>
    }
}
