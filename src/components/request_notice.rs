use leptos::prelude::*;
use session_core::SessionError;

use crate::components::{Announce, LiveRegion};

/// What went wrong with the page's last request and what the user can do; it empties itself once a request
/// succeeds.
#[component]
pub fn RequestNotice(#[prop(into)] error: Signal<Option<SessionError>>) -> impl IntoView {
    view! {
        <LiveRegion announce=Announce::Now>
            {move || error.get().map(|error| view! { <p class="notice">{error_text(&error)}</p> })}
        </LiveRegion>
    }
}

/// What a failed call means to the user and what they can do, in the app's words; a refusal with the server's
/// own message (a throttled sign-in says how long to wait) shows that message.
pub fn error_text(error: &SessionError) -> String {
    match error {
        SessionError::Network => {
            // Offline, nothing is sent (the banner says the page reloads once back online); this is a server
            // that did not answer on a working network, after the cache's own retries.
            "The server cannot be reached. Your session is kept: check your connection and try Refresh in a \
             moment."
                .to_owned()
        }
        SessionError::Timeout => {
            "The server is taking too long to answer. Nothing was lost: try Refresh in a moment.".to_owned()
        }
        SessionError::Server { .. } => {
            "The server ran into a problem. Your session is kept: try Refresh in a moment.".to_owned()
        }
        SessionError::Status { status, message, .. } if message.is_empty() => {
            ["The request failed (", &status.to_string(), ")."].concat()
        }
        SessionError::Status { message, .. } => message.clone(),
        SessionError::Unauthorized => "You are not signed in.".to_owned(),
        SessionError::SessionChanged => "You are now signed in as someone else.".to_owned(),
        SessionError::SessionExpired => "Your session has expired. Please sign in again.".to_owned(),
        SessionError::Encode => "The request could not be sent. Please reload the page.".to_owned(),
        SessionError::DeviceKey => {
            "This browser could not read the key that proves your sign-in. Your session is kept: try Refresh; if \
             this goes on, reload the page, or sign out and in again."
                .to_owned()
        }
        _ => "Unexpected answer from the server. Please try again later.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use session_core::ErrorCode;

    use super::*;

    #[test]
    fn each_failure_says_what_happened_and_what_to_do() {
        let cases = [
            (SessionError::Network, "cannot be reached"),
            (SessionError::Timeout, "too long"),
            (SessionError::Server { status: 503 }, "ran into a problem"),
            (
                SessionError::Status { status: 404, code: ErrorCode::NotFound, message: "No such resource.".into() },
                "No such",
            ),
            (SessionError::Status { status: 418, code: ErrorCode::Unknown, message: String::new() }, "failed (418)"),
            (SessionError::Encode, "could not be sent"),
            (SessionError::DeviceKey, "could not read the key"),
        ];
        for (error, expected) in cases {
            assert!(error_text(&error).contains(expected), "{error:?}: {}", error_text(&error));
        }
        for error in [
            SessionError::Network,
            SessionError::Timeout,
            SessionError::Server { status: 500 },
            SessionError::DeviceKey,
        ] {
            assert!(error_text(&error).contains("session is kept") || error_text(&error).contains("Nothing was lost"));
        }
    }
}
