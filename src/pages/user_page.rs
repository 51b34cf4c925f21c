use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::api::User;
use crate::query::QueryCache;
use crate::use_api;

#[component]
pub fn UserPage() -> impl IntoView {
    let api = use_api();
    let cache = expect_context::<QueryCache>();
    if !api.get_value().is_signed_in() {
        return view! { <Redirect path="/login"/> }.into_any();
    }

    let user = LocalResource::new(move || {
        let api = api.get_value();
        async move { cache.user.get_or_fetch(|| async move { api.get_json::<User>("/user").await }).await }
    });
    let sign_out = Action::new_local(move |_: &()| {
        let api = api.get_value();
        async move { api.sign_out().await }
    });
    let reload = move |_| {
        cache.user.invalidate();
        user.refetch();
    };

    view! {
        <section class="card">
            <h1>"Your account"</h1>
            {move || match user.get() {
                None => view! { <p class="muted" aria-busy="true">"Loading…"</p> }.into_any(),
                Some(Ok(user)) => view! { <UserDetails user/> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
            }}
            <div class="actions">
                <button type="button" on:click=reload>"Reload"</button>
                <button type="button" class="secondary" disabled=sign_out.pending() on:click=move |_| {
                    sign_out.dispatch(());
                }>"Sign out"</button>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn UserDetails(user: User) -> impl IntoView {
    view! {
        <dl class="details">
            <dt>"Name"</dt>
            <dd data-testid="display-name">{user.display_name}</dd>
            <dt>"Username"</dt>
            <dd>{user.username}</dd>
            <dt>"Email"</dt>
            <dd>{user.email}</dd>
            <dt>"Member since"</dt>
            <dd>{user.created_at}</dd>
        </dl>
    }
}
