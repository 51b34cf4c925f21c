#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

mod bodies;
mod error_code;
pub mod paths;

pub use bodies::{Credentials, ErrorBody, Health, HealthStatus, SessionEntry, TokenResponse, TokenType, User};
pub use error_code::ErrorCode;

/// The refresh token's cookie wherever the app is served over HTTPS. The `__Secure-` prefix makes browsers refuse
/// it unless it is `Secure`.
pub const REFRESH_COOKIE: &str = "__Secure-refresh";
/// The refresh token's cookie when the app is served over plain HTTP on a loopback address (development): not
/// `Secure`, which WebKit would refuse there, and so without the prefix that demands it.
pub const LOOPBACK_REFRESH_COOKIE: &str = "refresh";
/// The only path the refresh cookie is sent to.
pub const REFRESH_COOKIE_PATH: &str = "/auth";
/// The device cookie a sign-in sets over HTTPS: the browser's own sign-in budget for the account (the server's
/// concern; a client only lets the browser send it).
pub const DEVICE_COOKIE: &str = "__Secure-device";
/// The device cookie on plain HTTP on a loopback address, as [`LOOPBACK_REFRESH_COOKIE`].
pub const LOOPBACK_DEVICE_COOKIE: &str = "device";
/// The only path the device cookie is sent to: the sign-in.
pub const DEVICE_COOKIE_PATH: &str = paths::LOGIN;

/// The header that carries a DPoP proof (RFC 9449): on the sign-in, the refresh, the sign-out, and every request
/// with an access token of a session bound to a key.
pub const DPOP_HEADER: &str = "DPoP";
/// The header a server nonce comes in; a client puts the latest in its next proofs (`nonce`).
pub const DPOP_NONCE_HEADER: &str = "DPoP-Nonce";
/// The `Authorization` scheme of a DPoP-bound access token.
pub const DPOP_SCHEME: &str = "DPoP";

/// The localStorage item that holds the access token (with its expiry, as one JSON value).
pub const ACCESS_TOKEN_STORAGE_KEY: &str = "accessToken";

/// State-changing requests carry this header with [`CSRF_HEADER_VALUE`]; a cross-site form cannot set it.
pub const CSRF_HEADER: &str = "x-requested-with";
/// The value of [`CSRF_HEADER`].
pub const CSRF_HEADER_VALUE: &str = "fetch";
