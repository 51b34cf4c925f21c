use leptos::prelude::*;
use session_core::EndReason;
use session_leptos::use_session_notice;

use crate::components::{Announce, LiveRegion};

/// The reason the user is on the sign-in page.
#[component]
pub fn SessionExpiredBanner() -> impl IntoView {
    let notice = use_session_notice();
    view! {
        <LiveRegion announce=Announce::Now>
            {move || {
                notice.ended.get().map(|reason| {
                    view! {
                        <div class="banner">
                            <p>{ended_text(reason)}</p>
                            <button
                                type="button"
                                class="dismiss"
                                aria-label="Dismiss"
                                on:click=move |_| notice.ended.set(None)
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

/// Why the user is back on the sign-in page, in the app's words.
fn ended_text(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Reused => {
            "Your session was ended because it was used from another device. Please sign in again; if that was \
             not you, change your password."
        }
        _ => "Your session has expired. Please sign in again.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_used_elsewhere_says_so_and_what_to_do() {
        assert!(ended_text(EndReason::Reused).contains("used from another device"));
        assert!(ended_text(EndReason::Reused).contains("change your password"));
        assert_eq!(ended_text(EndReason::Expired), "Your session has expired. Please sign in again.");
    }
}
