//! The signed-in user: profile, sessions, signing out a device.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::WithRejection;
use session_contract::{ErrorBody, SessionEntry, User, paths};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::state::SharedState;

/// The signed-in user.
#[utoipa::path(
    get,
    path = paths::USER,
    tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, description = "`invalid_token`: missing, malformed, expired or forged, its session ended, or a DPoP-bound token sent as `Bearer`. `invalid_dpop_proof` (`WWW-Authenticate: DPoP`): the token is bound to a key and the `DPoP` proof is missing, invalid, replayed, for another request or token, or of another key. `use_dpop_nonce`: send it again with the `DPoP-Nonce` given.", body = ErrorBody,
            headers(("www-authenticate" = String, description = "`Bearer error=\"invalid_token\"`"))),
        (status = 429, description = "`too_many_attempts`: the account's share of the DPoP proofs remembered is used.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`.", body = ErrorBody),
        (status = 503, description = "`server_busy`: the DPoP proofs remembered are at their cap.", body = ErrorBody),
    )
)]
pub async fn current_user(caller: Caller) -> Json<User> {
    let user = &caller.user;
    Json(User {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        created_at: rfc3339(user.created_at),
    })
}

/// The user's live sessions, newest first; `current` marks the caller's.
#[utoipa::path(
    get,
    path = paths::USER_SESSIONS,
    tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SessionEntry>),
        (status = 401, description = "`invalid_token`, `invalid_dpop_proof`, `use_dpop_nonce` (as `GET /user`).", body = ErrorBody,
            headers(("www-authenticate" = String, description = "`Bearer error=\"invalid_token\"`"))),
        (status = 429, description = "`too_many_attempts`: the account's share of the DPoP proofs remembered is used.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`.", body = ErrorBody),
        (status = 503, description = "`server_busy`: the DPoP proofs remembered are at their cap.", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    State(app): State<SharedState>,
    caller: Caller,
) -> Result<Json<Vec<SessionEntry>>, ApiError> {
    let sessions = app.store.live_sessions(caller.user.id, app.now(), app.settings.idle_timeout).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionEntry {
                current: session.id == caller.session_id,
                id: session.id,
                created_at: rfc3339(session.created_at),
                last_used_at: rfc3339(session.last_used_at),
                user_agent: session.user_agent,
            })
            .collect(),
    ))
}

/// Signs out another of the user's sessions.
#[utoipa::path(
    delete,
    path = paths::USER_SESSION,
    tag = "user",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id, from the list.")),
    responses(
        (status = 204, description = "That session is revoked."),
        (status = 401, description = "`invalid_token`, `invalid_dpop_proof`, `use_dpop_nonce` (as `GET /user`).", body = ErrorBody,
            headers(("www-authenticate" = String, description = "`Bearer error=\"invalid_token\"`"))),
        (status = 403, description = "`csrf`.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session of this user (ended, expired, or an id that is not a UUID); an idle one is ended (`204`).", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: the account's share of the DPoP proofs remembered is used.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`.", body = ErrorBody),
        (status = 503, description = "`server_busy`: the DPoP proofs remembered are at their cap.", body = ErrorBody),
    )
)]
pub async fn revoke_session(
    State(app): State<SharedState>,
    caller: Caller,
    WithRejection(Path(id), _): WithRejection<Path<String>, ApiError>,
) -> Result<StatusCode, ApiError> {
    // Session ids are UUIDs: anything else names no session, and is never put to the database (PostgreSQL
    // refuses a NUL byte in text).
    let id = uuid::Uuid::try_parse(&id).map_err(|_| ApiError::NotFound)?.to_string();
    if !app.store.revoke_user_session(caller.user.id, &id, app.now()).await? {
        return Err(ApiError::NotFound);
    }
    app.live_sessions.forget(&id);
    tracing::info!(event = "session_revoked_by_user", user_id = caller.user.id, session_id = id, "signed out a device");
    Ok(StatusCode::NO_CONTENT)
}

/// Unix seconds as an RFC 3339 UTC timestamp; a time no calendar holds (never stored by this server) as the epoch.
fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_unix_time_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
