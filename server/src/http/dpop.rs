//! A request's DPoP proof, for the handlers that bind a session to a key or need its proof: checked against the
//! request ([`dpop::check`]), then recorded, so that no proof is accepted twice; and the nonce every answer
//! brings, for the next proofs.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use session_contract::{DPOP_HEADER, DPOP_NONCE_HEADER};

use crate::auth::dpop::replays::FirstUse;
use crate::auth::dpop::{self, CheckedProof, DpopMode, ProofError, REPLAY_WINDOW, ThisRequest};
use crate::http::error::{ApiError, ProofAt};
use crate::http::security::own_origin;
use crate::state::{AppState, SharedState};

/// The request a proof is checked against, as the handler knows it.
pub struct ProofRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The access token presented with it, for a protected resource.
    pub access_token: Option<&'a str>,
    pub at: ProofAt,
}

/// This request's proof, checked at `now`: `None` without a `DPoP` header, or with DPoP off.
///
/// # Errors
/// Several `DPoP` headers, or a proof that fails a check (`use_dpop_nonce` when only its freshness does).
pub fn checked_proof(
    app: &AppState,
    headers: &HeaderMap,
    request: &ProofRequest<'_>,
    now: i64,
) -> Result<Option<CheckedProof>, ApiError> {
    if app.settings.dpop == DpopMode::Off {
        return Ok(None);
    }
    let refuse = |reason| refusal(reason, request.at);
    let mut proofs = headers.get_all(DPOP_HEADER).iter();
    let Some(proof) = proofs.next() else { return Ok(None) };
    if proofs.next().is_some() {
        return Err(refuse(ProofError::Several));
    }
    let proof = proof.to_str().map_err(|_| refuse(ProofError::Malformed))?;
    let origin = own_origin(headers, &app.settings).ok_or_else(|| refuse(ProofError::Url))?;
    let this =
        ThisRequest { method: request.method, origin: &origin, path: request.path, access_token: request.access_token };
    dpop::check(proof, this, &app.dpop_nonces, now).map(Some).map_err(refuse)
}

/// How long an account whose share of the proofs remembered is used waits: some of a steady client's proofs end
/// in that time.
const PROOF_SHARE_WAIT: u64 = 60;

/// Records `proof`, made for the account `user_id`, as seen, for as long as it could be fresh.
///
/// # Errors
/// A proof seen before (here or, on PostgreSQL, at another instance), or the store's failure.
pub async fn record(app: &AppState, proof: &CheckedProof, user_id: i64, at: ProofAt, now: i64) -> Result<(), ApiError> {
    match app.dpop_proofs.first_use(proof.replay_key, user_id, now + REPLAY_WINDOW, now).await? {
        FirstUse::Yes => Ok(()),
        FirstUse::Replayed => Err(refusal(ProofError::Replayed, at)),
        FirstUse::TooMany => {
            tracing::warn!(event = "dpop_proofs_per_account", user_id, "one account made too many proofs: refused");
            Err(ApiError::TooManyAttempts { retry_after: PROOF_SHARE_WAIT })
        }
        FirstUse::Full => {
            tracing::warn!(event = "dpop_proofs_full", "the proofs remembered are at their cap: proofs refused");
            Err(ApiError::DatabaseBusy)
        }
    }
}

/// The error for `reason`, logged (never the proof itself).
pub fn refusal(reason: ProofError, at: ProofAt) -> ApiError {
    tracing::info!(event = "dpop_proof_refused", %reason, "DPoP proof refused");
    match reason {
        ProofError::UseNonce => ApiError::UseDpopNonce { at },
        reason => ApiError::InvalidDpopProof { reason, at },
    }
}

/// Every answer to a request with a proof carries a fresh nonce (RFC 9449 §8.2), so a client whose clock is off
/// needs one refusal at most, and its proofs stay fresh by the nonce whatever its clock says. (A Bearer client's
/// answers are spared the HMAC.)
pub async fn with_nonce(State(app): State<SharedState>, request: Request, next: Next) -> Response {
    let with_proof = request.headers().contains_key(DPOP_HEADER);
    let mut response = next.run(request).await;
    if with_proof
        && app.settings.dpop != DpopMode::Off
        && let Ok(nonce) = HeaderValue::from_str(&app.dpop_nonces.issue(app.now()))
    {
        response.headers_mut().insert(DPOP_NONCE_HEADER, nonce);
    }
    response
}
