use leptos::prelude::*;
use session_contract::{SessionEntry, paths};
use session_core::{RequestRecipe, SessionError};
use session_leptos::{Query, SESSIONS, use_query_client, use_session};

use crate::components::RequestNotice;
use crate::components::device_name::device_name;
use crate::local_date::date_and_time;

/// The devices signed in to this account, read as a resource, this one marked; any other can be signed out from
/// here, and the list loses it at once, without a refetch.
#[component]
pub fn SessionsList(sessions: Query<Vec<SessionEntry>>) -> impl IntoView {
    let api = use_session();
    let client = use_query_client();
    let sign_out_device = Action::new_local(move |id: &String| {
        let (api, id) = (api.get_value(), id.clone());
        async move {
            api.send(&RequestRecipe::delete(paths::user_session(&id))).await?;
            client.set_data::<Vec<SessionEntry>>(SESSIONS, |list| list.retain(|session| session.id != id));
            Ok::<(), SessionError>(())
        }
    });
    let failed = Signal::derive(move || sign_out_device.value().get().and_then(Result::err));
    let devices = sessions.resource();

    view! {
        <section aria-labelledby="sessions-heading" aria-busy=move || sessions.is_pending().to_string()>
            <h2 id="sessions-heading">"Signed-in devices"</h2>
            <RequestNotice error=failed/>
            <Suspense fallback=SessionsSkeleton>
                {move || match devices.get() {
                    Some(Ok(list)) => {
                        view! {
                            <ul class="sessions" data-testid="sessions">
                                {list
                                    .into_iter()
                                    .map(|session| view! { <SessionItem session sign_out=sign_out_device/> })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Some(Err(SessionError::SessionChanged)) | None => view! { <SessionsSkeleton/> }.into_any(),
                    Some(Err(_)) => {
                        view! { <p class="muted">"The list of devices could not be loaded."</p> }.into_any()
                    }
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn SessionsSkeleton() -> impl IntoView {
    view! {
        <ul class="sessions skeleton" aria-hidden="true">
            <li><span class="placeholder"></span></li>
            <li><span class="placeholder"></span></li>
        </ul>
        <p class="visually-hidden">"Loading your devices…"</p>
    }
}

#[component]
fn SessionItem(session: SessionEntry, sign_out: Action<String, Result<(), SessionError>>) -> impl IntoView {
    let device = device_name(&session.user_agent);
    let id = session.id;
    let action = if session.current {
        view! { <span class="badge">"This device"</span> }.into_any()
    } else {
        let pending = sign_out.pending();
        view! {
            <button type="button" class="secondary small" disabled=pending on:click=move |_| {
                sign_out.dispatch(id.clone());
            }>"Sign out that device"</button>
        }
        .into_any()
    };
    view! {
        <li data-current=session.current.to_string()>
            <div>
                <p class="device" title=session.user_agent>{device}</p>
                <p class="muted small">
                    "Signed in " {date_and_time(&session.created_at)} " · last active "
                    {date_and_time(&session.last_used_at)}
                </p>
            </div>
            {action}
        </li>
    }
}
