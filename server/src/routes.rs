//! The endpoints of docs/API.md; bodies and paths come from the contract crate.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use session_contract::{Credentials, SessionEntry, TokenResponse, TokenType, User as UserBody, paths};

use crate::app::App;
use crate::credentials::verify_password;
use crate::error::ApiError;
use crate::metrics::{LoginOutcome, RefreshOutcome};
use crate::security::{cleared_refresh_cookie, presented_refresh_token, refresh_cookie};
use crate::store::{Rotation, RotationRequest, User};
use crate::tokens::{IssuedRefreshToken, digest};

const MAX_USER_AGENT_CHARS: usize = 256;

/// The endpoints that change state (they must be same-site and marked).
pub fn state_changing() -> Router<App> {
    Router::new()
        .route(paths::LOGIN, post(login))
        .route(paths::REFRESH, post(refresh))
        .route(paths::LOGOUT, post(logout))
        .route(paths::USER_SESSION, delete(revoke_session))
}

pub fn reads() -> Router<App> {
    Router::new().route(paths::USER, get(current_user)).route(paths::USER_SESSIONS, get(list_sessions))
}

/// JSON bodies whose rejections answer in the contract's error form.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The caller of a Bearer-protected endpoint: a valid access token whose session is still live.
pub struct Caller {
    pub user: Arc<User>,
    pub session_id: String,
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::InvalidToken)?;
        let claims = app.access_tokens().verify(token).ok_or(ApiError::InvalidToken)?;
        let user = app.live_sessions().user_of(app.store(), &claims.sid, app.now()).await?;
        match user {
            Some(user) if claims.sub.parse() == Ok(user.id) => Ok(Self { user, session_id: claims.sid.clone() }),
            _ => Err(ApiError::InvalidToken),
        }
    }
}

async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let now = app.now();
    if let Some(retry_after) = app.throttle().check(&credentials.username, peer.ip(), now) {
        app.metrics().login(LoginOutcome::Throttled);
        return Err(ApiError::TooManyAttempts { retry_after });
    }
    let user = app.store().user_by_username(&credentials.username).await?;
    // Unknown users still cost one Argon2 verification, so timing does not reveal which names exist.
    let stored_hash =
        user.as_ref().map_or_else(|| app.dummy_password_hash().to_owned(), |user| user.password_hash.clone());
    let password = credentials.password;
    let password_matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored_hash))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let Some(user) = user.filter(|_| password_matches) else {
        app.throttle().record_failure(&credentials.username, now);
        app.metrics().login(LoginOutcome::InvalidCredentials);
        tracing::info!(event = "login_failed", "sign-in refused");
        return Err(ApiError::InvalidCredentials);
    };
    app.throttle().record_success(&credentials.username);

    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_token = app.refresh_tokens().generate();
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let expires_at = now + app.settings().session_ttl;
    app.store().create_session(&session_id, user.id, &user_agent, &refresh_token.hash, now, expires_at).await?;
    app.metrics().login(LoginOutcome::Success);
    tracing::info!(event = "login_succeeded", user_id = user.id, session_id, "signed in");
    token_response(&app, user.id, &session_id, &refresh_token, expires_at - now)
}

async fn refresh(State(app): State<App>, headers: HeaderMap) -> Response {
    match rotate(&app, &headers).await {
        Ok(response) => response,
        Err(error @ (ApiError::SessionExpired | ApiError::RefreshTokenReused)) => {
            ([(header::SET_COOKIE, cleared_refresh_cookie())], error).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn rotate(app: &App, headers: &HeaderMap) -> Result<Response, ApiError> {
    let now = app.now();
    let Some(presented) = presented_refresh_token(headers) else {
        app.metrics().refresh(RefreshOutcome::Expired);
        return Err(ApiError::SessionExpired);
    };
    let child = app.refresh_tokens().generate();
    let sealed_child = app.refresh_tokens().seal(presented, &child.plaintext);
    let settings = app.settings();
    let rotation = app
        .store()
        .rotate(RotationRequest {
            presented_hash: &digest(presented),
            child_hash: &child.hash,
            sealed_child: &sealed_child,
            now,
            idle_timeout: settings.idle_timeout,
            grace: settings.refresh_grace,
        })
        .await?;
    match rotation {
        Rotation::Rotated { session_id, user_id, expires_at } => {
            app.metrics().refresh(RefreshOutcome::Rotated);
            tracing::info!(event = "refresh_rotated", user_id, session_id, "refresh token rotated");
            token_response(app, user_id, &session_id, &child, expires_at - now)
        }
        Rotation::WithinGrace { session_id, user_id, expires_at, sealed_child } => {
            let same_child = app.refresh_tokens().unseal(presented, &sealed_child).ok_or(ApiError::SessionExpired)?;
            app.metrics().refresh(RefreshOutcome::Grace);
            tracing::info!(
                event = "refresh_grace_retry",
                user_id,
                session_id,
                "rotated token presented again in grace"
            );
            token_response(app, user_id, &session_id, &same_child, expires_at - now)
        }
        Rotation::Reused { session_id, user_id } => {
            app.live_sessions().forget(&session_id);
            app.metrics().refresh(RefreshOutcome::Reused);
            tracing::warn!(event = "refresh_reuse_detected", user_id, session_id, "session revoked");
            Err(ApiError::RefreshTokenReused)
        }
        Rotation::Expired => {
            app.metrics().refresh(RefreshOutcome::Expired);
            Err(ApiError::SessionExpired)
        }
    }
}

fn token_response(
    app: &App,
    user_id: i64,
    session_id: &str,
    refresh_token: &IssuedRefreshToken,
    session_remaining: i64,
) -> Result<Response, ApiError> {
    let access_token = app
        .access_tokens()
        .issue(user_id, session_id, app.now())
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let expires_in = u64::try_from(app.access_tokens().ttl()).unwrap_or(0);
    let body = TokenResponse { access_token, token_type: TokenType::Bearer, expires_in };
    Ok(([(header::SET_COOKIE, refresh_cookie(&refresh_token.plaintext, session_remaining))], Json(body))
        .into_response())
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(presented) = presented_refresh_token(&headers)
        && let Some(session_id) = app.store().revoke_by_token(&digest(presented), app.now()).await?
    {
        app.live_sessions().forget(&session_id);
        tracing::info!(event = "logout", session_id, "session revoked");
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared_refresh_cookie())]).into_response())
}

async fn current_user(caller: Caller) -> Json<UserBody> {
    let user = &caller.user;
    Json(UserBody {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        created_at: rfc3339(user.created_at),
    })
}

async fn list_sessions(State(app): State<App>, caller: Caller) -> Result<Json<Vec<SessionEntry>>, ApiError> {
    let sessions = app.store().live_sessions(caller.user.id, app.now()).await?;
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

async fn revoke_session(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if app.store().revoke_user_session(caller.user.id, &id, app.now()).await? {
        app.live_sessions().forget(&id);
        tracing::info!(
            event = "session_revoked_by_user",
            user_id = caller.user.id,
            session_id = id,
            "signed out a device"
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Unix seconds as an RFC 3339 UTC timestamp (civil-from-days, proleptic Gregorian).
fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds_of_day = unix_seconds.rem_euclid(86_400);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    )
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
