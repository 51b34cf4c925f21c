use leptos::prelude::*;
use leptos_router::components::A;

use session_leptos::{use_sign_out, use_user};

/// `/login` while a session is stored: who is signed in (from the query cache, or asked of the server), and
/// the two ways on, so that nobody signs in over someone else's session by accident. Signing out shows the form
/// at once (the page follows the session's events); the server hears of it when it can.
#[component]
pub fn AlreadySignedIn() -> impl IntoView {
    // The query the user page reads: no request when it already knows.
    let user = use_user();
    let who = move || match user.data() {
        Some(user) => ["You are signed in as ", &user.display_name, "."].concat(),
        None => "You are already signed in.".to_owned(),
    };
    let sign_out = use_sign_out();
    view! {
        <p data-testid="signed-in-as">{who}</p>
        <div class="actions">
            <A href="/user">"Continue"</A>
            <button type="button" class="secondary" disabled=sign_out.pending() on:click=move |_| {
                sign_out.dispatch(());
            }>"Sign out first"</button>
        </div>
    }
}
