//! What handlers take from a request: a JSON body that fails in the contract's form, the signed-in caller, and
//! the client's address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::TypedHeader;
use axum_extra::headers::Authorization;
use axum_extra::headers::authorization::Bearer;

use crate::auth::client_address::{AddressBucket, client_address};
use crate::http::error::ApiError;
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

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedState) -> Result<Self, Self::Rejection> {
        let TypedHeader(Authorization(bearer)) = TypedHeader::<Authorization<Bearer>>::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::InvalidToken)?;
        let now = app.now();
        let claims = app.access_tokens.verify(bearer.token(), now).ok_or(ApiError::InvalidToken)?;
        let lookup = app.store.live_session(&claims.sid, now, app.settings.idle_timeout);
        let user = app.live_sessions.user_of(&claims.sid, now, lookup).await?;
        match user {
            Some(user) if claims.sub.parse() == Ok(user.id) => Ok(Self { user, session_id: claims.sid.clone() }),
            _ => Err(ApiError::InvalidToken),
        }
    }
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
