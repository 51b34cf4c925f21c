use leptos::prelude::*;
use session_contract::SessionEntry;
use session_core::{ErrorCode, SessionError};
use session_leptos::{Query, SESSIONS, revoke_session, use_query_client, use_session};

use crate::components::device_name::device_name;
use crate::components::{Announce, LiveRegion, RequestNotice};
use crate::local_date::date_and_time;

/// The devices signed in to this account, read as a resource, this one marked; any other can be signed out from
/// here, and the list loses it at once, without a refetch.
#[component]
pub fn SessionsList(sessions: Query<Vec<SessionEntry>>) -> impl IntoView {
    let report = Report { failed: RwSignal::new(None), done: RwSignal::new(None), heading: NodeRef::new() };
    let devices = sessions.resource();

    view! {
        <section aria-labelledby="sessions-heading" aria-busy=move || sessions.is_pending().to_string()>
            <h2 id="sessions-heading" tabindex="-1" node_ref=report.heading>"Signed-in devices"</h2>
            <RequestNotice error=report.failed/>
            <LiveRegion announce=Announce::Politely>
                {move || report.done.get().map(|text| view! { <p class="muted small">{text}</p> })}
            </LiveRegion>
            {move || match devices.get() {
                Some(Ok(list)) => {
                    view! {
                        <ul class="sessions" data-testid="sessions">
                            {list.into_iter().map(|session| view! { <SessionItem session report/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }
                Some(Err(SessionError::SessionChanged)) | None => view! { <SessionsSkeleton/> }.into_any(),
                Some(Err(_)) => {
                    view! { <p class="muted">"The list of devices could not be loaded."</p> }.into_any()
                }
            }}
        </section>
    }
}

/// Where a row tells how signing its device out went: the failure, the announcement, and the heading that takes
/// the focus when the row (and its focused button) goes.
#[derive(Clone, Copy)]
struct Report {
    failed: RwSignal<Option<SessionError>>,
    done: RwSignal<Option<String>>,
    heading: NodeRef<leptos::html::H2>,
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
fn SessionItem(session: SessionEntry, report: Report) -> impl IntoView {
    let device = device_name(&session.user_agent);
    let action = if session.current {
        view! { <span class="badge">"This device"</span> }.into_any()
    } else {
        let sign_out = sign_out_device(session.id, device.clone(), report);
        view! {
            <button type="button" class="secondary small" disabled=sign_out.pending() on:click=move |_| {
                sign_out.dispatch(());
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

/// Signs out the device of session `id`, this row's own action (its own pending state). Signed out, or already
/// gone (`404`), the row leaves the list, the focus moves to the list's heading first, and the result is
/// announced; any other failure is shown and the row stays.
fn sign_out_device(id: String, device: String, report: Report) -> Action<(), ()> {
    let api = use_session();
    let client = use_query_client();
    Action::new_local(move |_: &()| {
        let (api, id, device) = (api.get_value(), id.clone(), device.clone());
        async move {
            match revoke_session(&api, &id).await {
                Err(error) if error.code() != Some(ErrorCode::NotFound) => report.failed.set(Some(error)),
                _ => {
                    report.failed.set(None);
                    report.done.set(Some(["Signed out ", &device, "."].concat()));
                    if let Some(heading) = report.heading.get_untracked() {
                        let _ = heading.focus();
                    }
                    client.set_data::<Vec<SessionEntry>>(SESSIONS, |list| list.retain(|session| session.id != id));
                }
            }
        }
    })
}
