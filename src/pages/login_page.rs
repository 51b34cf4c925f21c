use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use session_core::{ErrorCode, SessionError};
use session_leptos::{use_session, use_session_event, use_sign_in};

use crate::components::{AlreadySignedIn, Announce, LiveRegion, PageHeading, SessionExpiredBanner, error_text};

/// Its view is erased (`into_any`), as every page's but `Home`'s: the router then builds and rebuilds one view
/// type where it would inline this page's whole tree (issue 22: −0.8 KB brotli with the not-found page; erasing
/// `Home`'s redirect or the user page's sections measured no gain or a loss).
#[component]
pub fn LoginPage() -> impl IntoView {
    let api = use_session();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Kept true to the store while the page stays mounted: a sign-out or sign-in in another tab (or the "Sign
    // out first" button, at once, before the server heard) changes what it shows.
    let signed_in = RwSignal::new(api.get_value().is_signed_in());
    use_session_event(move |_| signed_in.set(api.get_value().is_signed_in()));
    let sign_in = use_sign_in();
    let pending = sign_in.pending();
    let error = move || sign_in.value().get().and_then(Result::err).map(sign_in_error_text);

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        if !pending.get_untracked() {
            sign_in.dispatch((username.get_untracked(), password.get_untracked()));
        }
    };

    view! {
        <section class="card">
            <SessionExpiredBanner/>
            <PageHeading title="Sign in"/>
            <Show when=move || !signed_in.get() fallback=AlreadySignedIn>
            <form on:submit=on_submit>
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required bind:value=username/>
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                <LiveRegion announce=Announce::Now>
                    {move || error().map(|text| view! { <p class="error">{text}</p> })}
                </LiveRegion>
                <button type="submit" disabled=pending>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            </Show>
        </section>
    }
    .into_any()
}

/// Decided on the contract's code; a throttled sign-in shows the server's message, which says how long to wait.
fn sign_in_error_text(error: SessionError) -> String {
    match (&error, error.code()) {
        (_, Some(ErrorCode::InvalidCredentials)) => "Incorrect username or password.".to_owned(),
        // Nobody is signed in yet: nothing to reload, no session to keep, no Refresh button.
        (SessionError::Network, _) => "Check your network connection.".to_owned(),
        (SessionError::Timeout, _) => "The server took too long to answer. Please try again.".to_owned(),
        (SessionError::Server { .. }, _) => "Server error. Please try again later.".to_owned(),
        (SessionError::DeviceKey, _) => "This browser could not sign with its device key. Please try again.".to_owned(),
        _ => error_text(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_failures_speak_of_signing_in_not_of_a_session_or_a_refresh_button() {
        let cases = [
            (SessionError::Network, "Check your network connection."),
            (SessionError::Timeout, "The server took too long to answer. Please try again."),
            (SessionError::Server { status: 503 }, "Server error. Please try again later."),
            (
                SessionError::Status { status: 401, code: ErrorCode::InvalidCredentials, message: "nope".into() },
                "Incorrect username or password.",
            ),
            (
                SessionError::Status { status: 429, code: ErrorCode::TooManyAttempts, message: "Wait 8 s.".into() },
                "Wait 8 s.",
            ),
            (SessionError::DeviceKey, "This browser could not sign with its device key. Please try again."),
        ];
        for (error, expected) in cases {
            assert_eq!(sign_in_error_text(error.clone()), expected, "{error:?}");
        }
    }
}
