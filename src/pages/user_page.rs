use leptos::prelude::*;
use leptos_router::components::Redirect;
use session_leptos::{use_session, use_sessions, use_sign_out, use_user};

use crate::components::{PageHeading, Profile, RequestNotice, SessionsList};
use crate::replacing;

/// The signed-in user: the profile and the devices, loaded at once as two queries, with a refresh that shows it
/// is working and notices that say what failed.
#[component]
pub fn UserPage() -> impl IntoView {
    let api = use_session();
    if !api.get_value().is_signed_in() {
        return view! { <Redirect path="/login" options=replacing()/> }.into_any();
    }
    let user = use_user();
    let sessions = use_sessions();
    let sign_out = use_sign_out();
    let refreshing = move || user.is_fetching() || sessions.is_fetching();
    let refresh = move |_| {
        user.refetch();
        sessions.refetch();
    };
    let error = Signal::derive(move || user.error().or_else(|| sessions.error()));

    view! {
        <section class="card">
            <PageHeading title="Your account"/>
            <RequestNotice error/>
            <Profile user/>
            <SessionsList sessions/>
            <div class="actions">
                <button type="button" class="secondary" on:click=refresh aria-busy=move || refreshing().to_string()>
                    {move || if refreshing() { "Refreshing…" } else { "Refresh" }}
                </button>
                <button type="button" disabled=sign_out.pending() on:click=move |_| {
                    sign_out.dispatch(());
                }>"Sign out"</button>
            </div>
        </section>
    }
    .into_any()
}
