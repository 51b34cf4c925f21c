use leptos::prelude::*;
use session_core::ApiError;

use crate::components::{Announce, LiveRegion};

/// What went wrong with the page's last request and what the user can do; it empties itself once a request
/// succeeds.
#[component]
pub fn RequestNotice(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    view! {
        <LiveRegion announce=Announce::Now>
            {move || error.get().map(|error| view! { <p class="notice">{notice_text(&error)}</p> })}
        </LiveRegion>
    }
}

fn notice_text(error: &ApiError) -> String {
    match error {
        ApiError::Network => {
            "The server cannot be reached. Check your connection: the page reloads by itself once you are back \
             online, and your session is kept."
                .to_owned()
        }
        ApiError::Timeout => {
            "The server is taking too long to answer. Nothing was lost: try Refresh in a moment.".to_owned()
        }
        ApiError::Server { .. } => {
            "The server ran into a problem. Your session is kept: try Refresh in a moment.".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use session_core::ErrorCode;

    use super::*;

    #[test]
    fn each_failure_says_what_happened_and_what_to_do() {
        let cases = [
            (ApiError::Network, "cannot be reached"),
            (ApiError::Timeout, "too long"),
            (ApiError::Server { status: 503 }, "ran into a problem"),
            (
                ApiError::Status { status: 404, code: ErrorCode::NotFound, message: "No such resource.".into() },
                "No such",
            ),
        ];
        for (error, expected) in cases {
            assert!(notice_text(&error).contains(expected), "{error:?}: {}", notice_text(&error));
        }
        for error in [ApiError::Network, ApiError::Timeout, ApiError::Server { status: 500 }] {
            assert!(
                notice_text(&error).contains("session is kept") || notice_text(&error).contains("Nothing was lost")
            );
        }
    }
}
