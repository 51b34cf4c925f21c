//! Sign-in, refresh (rotation with reuse detection) and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use session_contract::{Credentials, ErrorBody, TokenResponse, TokenType, paths};

use crate::auth::client_address::AddressBucket;
use crate::auth::devices::KnownDevice;
use crate::auth::dpop::{DpopMode, ProofError, SessionKey, session_key};
use crate::auth::passwords::{Unchecked, is_valid_username};
use crate::auth::rotation::{Decision, ROTATION_WINDOW, RotationRules, decide, max_rotations};
use crate::auth::site_origin::SiteOrigin;
use crate::auth::throttle::Reservation;
use crate::auth::tokens::{IssuedRefreshToken, digest};
use crate::http::cookies::{
    Presented, cleared_planted_refresh_cookies, cleared_refresh_cookie, device_cookie, presented_devices,
    presented_refresh_token, refresh_cookie,
};
use crate::http::dpop::{ProofRequest, checked_proof, record, refusal};
use crate::http::error::{ApiError, ProofAt};
use crate::http::extract::{Client, JsonBody};
use crate::metrics::{LoginOutcome, RefreshOutcome};
use crate::state::SharedState;
use crate::store::{Child, NewSession, RevokeReason};

const MAX_USER_AGENT_CHARS: usize = 256;

/// Signs in: a new session, its access token in the body and its refresh token in the cookie.
#[utoipa::path(
    post,
    path = paths::LOGIN,
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the new session's refresh token, then a new device cookie.", body = TokenResponse,
            headers(("set-cookie" = String, description = "The new session's refresh token (see the tag); a second one, the device cookie (`Path=/auth/login`) that gives this browser a sign-in budget of its own."))),
        (status = 400, description = "`bad_request`: malformed JSON, a missing field, a body over 8 KiB. `invalid_dpop_proof`: the `DPoP` proof is malformed, for another request or seen before, or missing where DPoP is required. `use_dpop_nonce`: send the proof again with the `DPoP-Nonce` the answer carries.", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: the same answer for an unknown user and a wrong password; at once for a username outside the account rule.", body = ErrorBody),
        (status = 403, description = "`csrf`: no marker header, or another site's `Origin`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a body that is not `application/json`.", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`.", body = ErrorBody),
        (status = 503, description = "`server_busy`: every password check stayed busy; the attempt was not counted.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn login(
    State(app): State<SharedState>,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    // No account can have another name: refused before it costs a counter, a query or a check.
    if !is_valid_username(&credentials.username) {
        return Err(invalid_credentials(&app));
    }
    let now = app.now();
    // With a proof the session is bound to its key; without one only where Bearer clients are allowed.
    let proof = checked_proof(&app, &headers, &session_request(paths::LOGIN), now)?;
    if proof.is_none() && app.settings.dpop == DpopMode::Required {
        return Err(refusal(ProofError::Missing, ProofAt::Session));
    }
    let mode = app.settings.cookie_mode;
    let username = credentials.username.as_str();
    let device = presented_devices(mode, &headers).iter().find_map(|value| app.devices.check(value, username, now));
    // Reserved before the (slow) password check, so a burst of guesses counts as a sequence.
    let reservation = reserve(&app, username, client, device.as_ref(), now).await?;
    let user = app.store.user_by_username(username).await?;
    // A device of an earlier password is a stranger again: its attempt counts as an unknown device's.
    let (device, reservation) = match device {
        Some(stale) if !user.as_ref().is_some_and(|user| stale.of_password(&user.password_hash)) => {
            app.throttle.cancel(reservation, now).await?;
            (None, reserve(&app, username, client, None, now).await?)
        }
        device => (device, reservation),
    };
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let password_matches = match app.password_checks.verify(credentials.password, stored_hash).await {
        Ok(matches) => matches,
        Err(unchecked) => {
            app.throttle.cancel(reservation, now).await?;
            if let Unchecked::Stopped = unchecked {
                return Err(ApiError::PasswordChecks(unchecked));
            }
            app.metrics.login(LoginOutcome::Busy);
            tracing::warn!(event = "password_checks_busy", "sign-in refused: every password check is busy");
            let retry_after = app.settings.password_check_wait.as_secs().max(1);
            return Err(ApiError::ServerBusy { retry_after });
        }
    };
    let Some(user) = user.filter(|_| password_matches) else {
        return Err(invalid_credentials(&app));
    };
    // Remembered once the password is right: nobody without it fills the proofs remembered. A proof refused here
    // (replayed, its account's share used, the memory full) is no failed attempt at the password.
    if let Some(proof) = &proof
        && let Err(refused) = record(&app, proof, user.id, ProofAt::Session, now).await
    {
        app.throttle.cancel(reservation, now).await?;
        return Err(refused);
    }

    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_token = app.refresh_tokens.generate();
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let expires_at = now + app.settings.session_ttl;
    let session = NewSession {
        session_id: &session_id,
        user_id: user.id,
        checked_hash: &user.password_hash,
        user_agent: &user_agent,
        token_hash: &refresh_token.hash,
        now,
        expires_at,
        jkt: proof.as_ref().map(|proof| proof.thumbprint.as_str()),
    };
    // The password changed while this sign-in waited for its check: it was checked against the old one.
    let Some(evicted) = app.store.create_session(&session).await? else {
        return Err(invalid_credentials(&app));
    };
    for session_id in &evicted {
        app.live_sessions.forget(session_id);
        tracing::info!(
            event = "session_evicted",
            user_id = user.id,
            session_id,
            "session limit: least recently used ended"
        );
    }
    app.throttle.succeeded(reservation, now).await?;
    app.metrics.login(LoginOutcome::Success);
    tracing::info!(
        event = "login_succeeded",
        user_id = user.id,
        session_id,
        known_device = device.is_some(),
        "signed in"
    );
    let mut response = token_response(&app, user.id, &session_id, session.jkt, &refresh_token, expires_at - now)?;
    // This browser is now a known device of the account: its own sign-in budget from now on.
    let device = app.devices.issue(&user.username, &user.password_hash);
    response.headers_mut().append(header::SET_COOKIE, device_cookie(mode, &device));
    Ok(response)
}

/// An attempt at `username`'s password from `client`, on `device`'s budget if it is a known one; refused with
/// the seconds to wait.
async fn reserve(
    app: &SharedState,
    username: &str,
    client: AddressBucket,
    device: Option<&KnownDevice>,
    now: i64,
) -> Result<Reservation, ApiError> {
    app.throttle.reserve(username, client, device, now).await?.map_err(|retry_after| {
        app.metrics.login(LoginOutcome::Throttled);
        ApiError::TooManyAttempts { retry_after }
    })
}

/// Exchanges the refresh cookie for a new access token and a rotated cookie.
#[utoipa::path(
    post,
    path = paths::REFRESH,
    tag = "auth",
    responses(
        (status = 200, description = "Rotated; `Set-Cookie` carries the new refresh token.", body = TokenResponse,
            headers(("set-cookie" = String, description = "The rotated refresh token."))),
        (status = 400, description = "`invalid_dpop_proof`: the session is bound to a key and the proof is missing, invalid or of another key (nothing is rotated or revoked); `use_dpop_nonce`: send it again with the `DPoP-Nonce` given. `bad_request`: the refresh cookie was sent more than once (another site of the domain planted one); none is used, the session is kept, and every cookie a sibling could have planted (`Domain=` the public host or a parent) is cleared.", body = ErrorBody,
            headers(("set-cookie" = String, description = "Clears the planted forms (with `Domain=`); this host's own cookie is kept."))),
        (status = 403, description = "`session_expired` (missing, unknown, expired, idle or revoked token) or `refresh_token_reused` (the whole session is revoked): the cookie is cleared. `csrf`: nothing read, the cookie kept.", body = ErrorBody,
            headers(("set-cookie" = String, description = "Clears the refresh cookie (not for `csrf`)."))),
        (status = 429, description = "`too_many_attempts`: too many unknown tokens from this address, or this session rotated too often in the last minute; the cookie is kept.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`.", body = ErrorBody),
        (status = 503, description = "`server_busy`: the DPoP proofs remembered are at their cap.", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(app): State<SharedState>,
    Client(client): Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = app.now();
    if let Some(retry_after) = app.throttle.refresh_wait(client, now).await? {
        return Err(ApiError::TooManyAttempts { retry_after });
    }
    let presented = match presented_refresh_token(app.settings.cookie_mode, &headers) {
        Presented::One(token) => token,
        Presented::Nothing => {
            app.metrics.refresh(RefreshOutcome::Expired);
            return Err(ApiError::SessionExpired);
        }
        // Neither is used (one may be a sibling site's, fixing the user into its session). Ours is kept; every
        // cookie a sibling could have planted is cleared, so the next refresh finds ours alone.
        Presented::Several(_) | Presented::TooMany => {
            tracing::warn!(event = "refresh_cookie_twice", "refresh refused: the cookie was sent more than once");
            return Ok(with_planted_cookies_cleared(&app, ApiError::CookieTwice.into_response()));
        }
    };
    let proof = checked_proof(&app, &headers, &session_request(paths::REFRESH), now)?;
    let proved = proof.as_ref().map(|proof| proof.thumbprint.as_str());
    let mut proof_recorded = false;
    let presented = presented.as_str();
    let presented_hash = digest(presented);
    let rules = RotationRules {
        idle_timeout: app.settings.idle_timeout,
        grace: app.settings.refresh_grace,
        proven_by_the_sessions_key: false,
        rotations_per_window: app.settings.session_refresh_limit,
        max_rotations: max_rotations(app.settings.session_ttl, app.settings.access_token_ttl),
    };
    // A second pass only when a concurrent request rotated the token between our read and our write.
    for _ in 0..2 {
        // Read without the write lock: a guessed or stale token never queues behind real rotations.
        let Some(token) = app.store.presented_token(&presented_hash, now - ROTATION_WINDOW).await? else {
            app.throttle.refresh_failed(client, now).await?;
            app.metrics.refresh(RefreshOutcome::Expired);
            return Err(ApiError::SessionExpired);
        };
        let (session_id, user_id) = (token.session_id.as_str(), token.user_id);
        // A bound session's cookie is worth nothing without its key: refused before anything is decided, so a
        // copied cookie neither rotates nor revokes the owner's session.
        let key = session_key(token.jkt.as_deref(), proved, app.settings.dpop);
        match (key, &proof) {
            (SessionKey::Proven, Some(proof)) if !proof_recorded => {
                record(&app, proof, token.user_id, ProofAt::Session, now).await?;
                proof_recorded = true;
            }
            (SessionKey::Unproven, proof) => {
                app.throttle.refresh_failed(client, now).await?;
                app.metrics.refresh(RefreshOutcome::InvalidProof);
                let reason = if proof.is_some() { ProofError::OtherKey } else { ProofError::Missing };
                return Err(refusal(reason, ProofAt::Session));
            }
            // Signed in before DPoP was required: over.
            (SessionKey::Unbound, _) if app.settings.dpop == DpopMode::Required => {
                app.metrics.refresh(RefreshOutcome::Expired);
                return Err(ApiError::SessionExpired);
            }
            _ => {}
        }
        let proven = key == SessionKey::Proven;
        let jkt = token.jkt.as_deref().filter(|_| proven);
        let rules = RotationRules { proven_by_the_sessions_key: proven, ..rules };
        match decide(&token, now, rules) {
            Decision::Rotate => {
                let child = app.refresh_tokens.generate();
                let sealed = (rules.grace > 0).then(|| app.refresh_tokens.seal(presented, &child.plaintext));
                let stored_child = Child { hash: &child.hash, sealed: sealed.as_deref() };
                if app.store.rotate(&presented_hash, &token, stored_child, now).await? {
                    app.metrics.refresh(RefreshOutcome::Rotated);
                    tracing::info!(event = "refresh_rotated", user_id, session_id, "refresh token rotated");
                    return token_response(&app, user_id, session_id, jkt, &child, token.expires_at - now);
                }
            }
            Decision::GraceSameChild => {
                let same_child = token
                    .sealed_child
                    .as_deref()
                    .zip(token.child_hash.as_deref())
                    .and_then(|(sealed, child_hash)| app.refresh_tokens.unseal(presented, sealed, child_hash, now));
                let Some(same_child) = same_child else {
                    tracing::warn!(event = "refresh_grace_unsealed_wrong", session_id, "sealed child does not match");
                    app.metrics.refresh(RefreshOutcome::Expired);
                    return Err(ApiError::SessionExpired);
                };
                app.metrics.refresh(RefreshOutcome::Grace);
                tracing::info!(event = "refresh_grace_retry", user_id, session_id, "rotated token presented again");
                return token_response(&app, user_id, session_id, jkt, &same_child, token.expires_at - now);
            }
            Decision::Reused => {
                app.store.revoke(session_id, RevokeReason::Reuse, now).await?;
                app.live_sessions.forget(session_id);
                app.metrics.refresh(RefreshOutcome::Reused);
                tracing::warn!(event = "refresh_reuse_detected", user_id, session_id, "session revoked");
                return Err(ApiError::RefreshTokenReused);
            }
            Decision::RevokedForReuse => {
                // Presented again after the reuse that revoked it: the same answer, and nothing to write. It counts
                // against this address as an unknown token does, so replaying it (to make the server write, or to
                // keep other sessions out of the live cache) is throttled, and the reuse alarm rings once.
                app.throttle.refresh_failed(client, now).await?;
                app.live_sessions.forget_remembered(session_id);
                app.metrics.refresh(RefreshOutcome::Expired);
                return Err(ApiError::RefreshTokenReused);
            }
            Decision::Exhausted => {
                app.store.revoke(session_id, RevokeReason::RotationLimit, now).await?;
                app.live_sessions.forget(session_id);
                app.metrics.refresh(RefreshOutcome::Expired);
                tracing::warn!(event = "refresh_rotations_exhausted", user_id, session_id, "session revoked");
                return Err(ApiError::SessionExpired);
            }
            Decision::TooFrequent { retry_after } => {
                app.metrics.refresh(RefreshOutcome::Throttled);
                tracing::warn!(event = "refresh_too_frequent", user_id, session_id, "refresh refused: too frequent");
                return Err(ApiError::TooManyAttempts { retry_after });
            }
            Decision::Expired | Decision::Idle => {
                // Ended elsewhere (the `user set-password` command, another instance) or by time: whatever this
                // instance remembers of it goes too, so its access tokens are refused from now on, not at the next
                // recheck or announcement.
                app.live_sessions.forget_remembered(session_id);
                app.metrics.refresh(RefreshOutcome::Expired);
                return Err(ApiError::SessionExpired);
            }
        }
    }
    app.metrics.refresh(RefreshOutcome::Expired);
    Err(ApiError::SessionExpired)
}

/// A `POST` to a session endpoint, where a refused proof is `400`.
fn session_request(path: &str) -> ProofRequest<'_> {
    ProofRequest { method: "POST", path, access_token: None, at: ProofAt::Session }
}

fn invalid_credentials(app: &SharedState) -> ApiError {
    app.metrics.login(LoginOutcome::InvalidCredentials);
    tracing::info!(event = "login_failed", "sign-in refused");
    ApiError::InvalidCredentials
}

fn token_response(
    app: &SharedState,
    user_id: i64,
    session_id: &str,
    jkt: Option<&str>,
    refresh_token: &IssuedRefreshToken,
    session_remaining: i64,
) -> Result<Response, ApiError> {
    let access_token = app.access_tokens.issue(user_id, session_id, jkt, app.now())?;
    let expires_in = u64::try_from(app.access_tokens.ttl()).unwrap_or(0);
    let token_type = if jkt.is_some() { TokenType::DPoP } else { TokenType::Bearer };
    let body = TokenResponse { access_token, token_type, expires_in };
    let cookie = refresh_cookie(app.settings.cookie_mode, &refresh_token.plaintext, session_remaining);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Revokes the cookie's session and clears the cookie; idempotent.
#[utoipa::path(
    post,
    path = paths::LOGOUT,
    tag = "auth",
    responses(
        (status = 204, description = "Signed out (or nobody was; a session bound to a key ends only with a `DPoP` proof of that key).",
            headers(("set-cookie" = String, description = "Clears the refresh cookie."))),
        (status = 400, description = "`bad_request`: more refresh cookies than a browser holds (48); none was read. `invalid_dpop_proof`: the `DPoP` proof fails its checks or was presented before; `use_dpop_nonce`: send it again with the `DPoP-Nonce` given. Nothing is revoked.", body = ErrorBody),
        (status = 403, description = "`csrf`.", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: the account's share of the DPoP proofs remembered is used.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 500, description = "`internal`: the session may still be live.", body = ErrorBody),
        (status = 503, description = "`server_busy`: the DPoP proofs remembered are at their cap.", body = ErrorBody),
    )
)]
pub async fn logout(State(app): State<SharedState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let mode = app.settings.cookie_mode;
    // With a planted second cookie the server cannot tell which is the user's: every one presented is signed out.
    let (mut presented, several) = match presented_refresh_token(mode, &headers) {
        Presented::Nothing => (Vec::new(), false),
        Presented::One(token) => (vec![token], false),
        Presented::Several(tokens) => (tokens, true),
        Presented::TooMany => {
            tracing::warn!(event = "logout_cookie_flood", "logout refused: more refresh cookies than a browser holds");
            return Ok(with_planted_cookies_cleared(&app, ApiError::CookieTwice.into_response()));
        }
    };
    // A bound session ends only with a proof of its key: a copied cookie cannot sign its owner out.
    let now = app.now();
    let proof = checked_proof(&app, &headers, &session_request(paths::LOGOUT), now)?;
    let proved = proof.as_ref().map(|proof| proof.thumbprint.as_str());
    let mut proof_recorded = false;
    presented.sort_unstable();
    presented.dedup();
    for token in presented.iter().filter(|token| !token.is_empty()) {
        let hash = digest(token);
        // Read without the write lock first, as a refresh does: a value the server never issued, a session
        // already ended, or a bound one without its key's proof costs no write.
        let Some(found) = app.store.presented_token(&hash, now).await? else { continue };
        let key = session_key(found.jkt.as_deref(), proved, app.settings.dpop);
        if found.revoke_reason.is_some() || key == SessionKey::Unproven {
            continue;
        }
        // Remembered before it ends the session it proves, once: only an owner's proofs take room (an unbound
        // session's cookie, perhaps planted, ends it alone and is charged nothing), and a proof presented again
        // ends nothing.
        if let Some(proof) = proof.as_ref().filter(|_| key == SessionKey::Proven && !proof_recorded) {
            record(&app, proof, found.user_id, ProofAt::Session, now).await?;
            proof_recorded = true;
        }
        let session_id = found.session_id.as_str();
        if app.store.revoke(session_id, RevokeReason::Logout, now).await? {
            app.live_sessions.forget(session_id);
            tracing::info!(event = "logout", session_id, "session revoked");
        }
    }
    let response = (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared_refresh_cookie(mode))]).into_response();
    Ok(if several { with_planted_cookies_cleared(&app, response) } else { response })
}

/// `response` with every refresh cookie another site of the public URL's domain could have planted cleared.
fn with_planted_cookies_cleared(app: &SharedState, mut response: Response) -> Response {
    let domains = app.settings.public_origin.as_ref().map(SiteOrigin::cookie_domains).unwrap_or_default();
    for cleared in cleared_planted_refresh_cookies(app.settings.cookie_mode, &domains) {
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    response
}
