use leptos::prelude::*;
use leptos_router::components::A;

use crate::query::QueryCache;
use crate::use_api;

/// `/login` while a session is stored: who is signed in, and the two ways on (nobody signs in over someone
/// else's session by accident).
#[component]
pub fn AlreadySignedIn(signed_in: RwSignal<bool>) -> impl IntoView {
    let api = use_api();
    let who = expect_context::<QueryCache>().user.cached().map_or_else(
        || "You are already signed in.".to_owned(),
        |user| format!("You are signed in as {}.", user.display_name),
    );
    let sign_out = Action::new_local(move |_: &()| {
        let api = api.get_value();
        async move {
            api.sign_out().await;
            signed_in.set(false);
        }
    });
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
