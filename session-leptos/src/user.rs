//! The contract's two reads, as queries every page can share, and its one write of the devices list.

use futures::FutureExt;
use futures::future::LocalBoxFuture;
use leptos::prelude::GetValue;
use session_contract::{SessionEntry, User, paths};
use session_core::{RequestRecipe, SessionError};

use crate::browser::BrowserClient;

use crate::context::use_session;
use crate::query::{Query, QueryOptions, use_query};

/// The key of `GET /user`.
pub const USER: &str = "user";
/// The key of `GET /user/sessions`.
pub const SESSIONS: &str = "sessions";

/// `GET /user`, fresh for five minutes (the article's `staleTime`).
pub fn use_user() -> Query<User> {
    let api = use_session();
    use_query(
        USER,
        move || {
            let api = api.get_value();
            async move { api.get_json::<User>(paths::USER).await }
        },
        QueryOptions::default(),
    )
}

/// `GET /user/sessions`, the signed-in user's devices.
pub fn use_sessions() -> Query<Vec<SessionEntry>> {
    let api = use_session();
    use_query(
        SESSIONS,
        move || {
            let api = api.get_value();
            async move { api.get_json::<Vec<SessionEntry>>(paths::USER_SESSIONS).await }
        },
        QueryOptions::default(),
    )
}

/// `DELETE /user/sessions/{id}`: signs that device out.
///
/// Boxed here, so that its state machine (and the client's whole request path under it) is compiled once, in
/// this crate: when the app awaited an `async fn` of this crate, the app's release build held a second instance
/// of it and of everything under it, made in the app's crate (`-C symbol-mangling-version=v0` names the crate
/// that made each instance).
///
/// # Errors
/// As [`BrowserClient::send`](session_core::SessionClient::send); `not_found` when it was gone already.
pub fn revoke_session(api: &BrowserClient, id: &str) -> LocalBoxFuture<'static, Result<(), SessionError>> {
    let (api, request) = (api.clone(), RequestRecipe::delete(paths::user_session(id)));
    async move { api.send(&request).await.map(drop) }.boxed_local()
}
