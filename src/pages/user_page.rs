use leptos::prelude::*;

use leptos_router::components::Redirect;
use session_contract::User;
use session_core::ApiError;

use crate::api::PageRequests;
use crate::components::Online;
use crate::query::QueryCache;
use crate::{replacing, use_api};

#[component]
pub fn UserPage() -> impl IntoView {
    let api = use_api();
    let cache = expect_context::<QueryCache>();
    if !api.get_value().is_signed_in() {
        return view! { <Redirect path="/login" options=replacing()/> }.into_any();
    }

    // Dropped with the page, which aborts what it still has in flight.
    let requests = StoredValue::new_local(PageRequests::default());
    let user = LocalResource::new(move || {
        let api = api.get_value();
        let request = requests.with_value(|requests| requests.run(cache.user(api)));
        // `None` only once the page is gone, so no one sees what stands in for the aborted answer.
        async move { request.await.unwrap_or(Err(ApiError::Network)) }
    });
    retry_when_back_online(user);
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

/// docs/API.md: after a network failure the app retries when back online.
fn retry_when_back_online(user: LocalResource<Result<User, ApiError>>) {
    let Online(online) = expect_context::<Online>();
    Effect::new(move |was_online: Option<bool>| {
        let is_online = online.get();
        let failed_offline = matches!(user.get_untracked(), Some(Err(ApiError::Network | ApiError::Timeout)));
        if is_online && was_online == Some(false) && failed_offline {
            user.refetch();
        }
        is_online
    });
}
