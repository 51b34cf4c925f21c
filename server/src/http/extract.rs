//! What handlers take from a request: a JSON body that fails in the contract's form, the signed-in caller, and
//! the client's address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use session_contract::DPOP_SCHEME;

use crate::auth::client_address::{AddressBucket, client_address};
use crate::auth::dpop::{DpopMode, ProofError};
use crate::http::dpop::{ProofRequest, checked_proof, record, refusal};
use crate::http::error::{ApiError, ProofAt};
use crate::state::SharedState;
use crate::store::User;

/// A JSON body; a wrong content type is `415 unsupported_media_type`, anything else unreadable `400`.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// The caller of a Bearer-protected endpoint: a valid access token whose session is still live.
pub struct Caller {
    pub user: Arc<User>,
    pub session_id: String,
}

/// The caller of a protected endpoint: an access token whose session is still live, presented as its binding
/// demands. A token bound to a key (`cnf.jkt`) is accepted only as `Authorization: DPoP <token>` with a fresh
/// proof of that key for this request (RFC 9449 §7); an unbound one only as `Bearer`, and not where DPoP is
/// required.
impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedState) -> Result<Self, Self::Rejection> {
        let (scheme, token) = authorization(&parts.headers).ok_or(ApiError::InvalidToken)?;
        let now = app.now();
        let claims = app.access_tokens.verify(token, now).ok_or(ApiError::InvalidToken)?;
        let bound_to = claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str());
        let proof = match (scheme, bound_to) {
            (Scheme::DPoP, Some(jkt)) if app.settings.dpop != DpopMode::Off => {
                let request = ProofRequest {
                    method: parts.method.as_str(),
                    path: parts.uri.path(),
                    access_token: Some(token),
                    at: ProofAt::Resource,
                };
                let proof = checked_proof(app, &parts.headers, &request, now)?
                    .ok_or_else(|| refusal(ProofError::Missing, ProofAt::Resource))?;
                if proof.thumbprint != jkt {
                    return Err(refusal(ProofError::OtherKey, ProofAt::Resource));
                }
                Some(proof)
            }
            (Scheme::Bearer, None) if app.settings.dpop != DpopMode::Required => None,
            // A bound token as Bearer (a downgrade), an unbound one as DPoP, or Bearer where DPoP is required.
            _ => return Err(ApiError::InvalidToken),
        };
        let lookup = app.store.live_session(&claims.sid, now, app.settings.idle_timeout);
        let user = app.live_sessions.user_of(&claims.sid, now, lookup).await?;
        let user = match user {
            Some(user) if claims.sub.parse() == Ok(user.id) => user,
            _ => return Err(ApiError::InvalidToken),
        };
        // Recorded last, so that only a live session's requests take room among the proofs remembered.
        if let Some(proof) = &proof {
            record(app, proof, user.id, ProofAt::Resource, now).await?;
        }
        Ok(Self { user, session_id: claims.sid.clone() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    DPoP,
}

/// `Authorization: Bearer <token>` or `DPoP <token>` (the scheme case-insensitive, RFC 9110 §11.1); `None` for
/// anything else, or more than one.
fn authorization(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(DPOP_SCHEME) {
        Scheme::DPoP
    } else {
        return None;
    };
    (!token.is_empty() && !token.contains(' ')).then_some((scheme, token))
}

/// The client's address bucket for rate limits (see [`client_address`]).
pub struct Client(pub AddressBucket);

impl FromRequestParts<SharedState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &SharedState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(address)| address.ip());
        Ok(Self(AddressBucket::of(client_address(peer, &parts.headers, &app.settings.trusted_proxies))))
    }
}
