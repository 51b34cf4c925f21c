use leptos::prelude::*;
use session_contract::User;
use session_core::SessionError;
use session_leptos::Query;

use crate::local_date::long_date;

/// The user's profile, read as a resource; placeholders of the same shape while it first loads.
#[component]
pub fn Profile(user: Query<User>) -> impl IntoView {
    let profile = user.resource();
    view! {
        <section aria-labelledby="profile-heading" aria-busy=move || user.is_pending().to_string()>
            <h2 id="profile-heading" class="visually-hidden">"Profile"</h2>
            {move || match profile.get() {
                Some(Ok(user)) => view! { <ProfileDetails user/> }.into_any(),
                // The session changed: the page is about to follow it; nothing of the last one shows.
                Some(Err(SessionError::SessionChanged)) | None => view! { <ProfileSkeleton/> }.into_any(),
                Some(Err(_)) => view! { <p class="muted">"Your profile could not be loaded."</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ProfileDetails(user: User) -> impl IntoView {
    let email = if user.email.is_empty() {
        view! { <dd class="muted">"No email address"</dd> }.into_any()
    } else {
        view! { <dd>{user.email}</dd> }.into_any()
    };
    view! {
        <dl class="details">
            <dt>"Name"</dt>
            <dd data-testid="display-name">{user.display_name}</dd>
            <dt>"Username"</dt>
            <dd>{user.username}</dd>
            <dt>"Email"</dt>
            {email}
            <dt>"Member since"</dt>
            <dd data-testid="member-since">{long_date(&user.created_at)}</dd>
        </dl>
    }
}

#[component]
fn ProfileSkeleton() -> impl IntoView {
    view! {
        <dl class="details skeleton" aria-hidden="true">
            <dt>"Name"</dt>
            <dd><span class="placeholder"></span></dd>
            <dt>"Username"</dt>
            <dd><span class="placeholder"></span></dd>
            <dt>"Email"</dt>
            <dd><span class="placeholder"></span></dd>
            <dt>"Member since"</dt>
            <dd><span class="placeholder"></span></dd>
        </dl>
        <p class="visually-hidden">"Loading your profile…"</p>
    }
}
