//! DPoP (RFC 9449): a proof, signed by a key the client keeps and cannot export, that the request comes from the
//! client the session is bound to. This is the check of one proof against the request it came with (RFC 9449
//! §4.3), free of I/O; whether its `jti` was seen before is asked of the replay store afterwards.

pub mod nonces;
pub mod replays;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::site_origin::SiteOrigin;
use nonces::Nonces;

/// The proof's explicit type (RFC 9449 §4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";
/// How far a proof's `iat` may be from the server's time without a nonce: a minute either way. A client whose
/// clock is further off is asked for a nonce, which proves freshness instead.
pub const IAT_WINDOW: i64 = 60;
/// The longest a `jti` is unique for: the `iat` window either way, or a nonce's life, whichever is longer.
pub const REPLAY_WINDOW: i64 = nonces::NONCE_LIFETIME + IAT_WINDOW;
/// A `jti` longer than this is not a random id.
const MAX_JTI_BYTES: usize = 128;
/// Coordinates of a P-256 public key.
const P256_COORDINATE_BYTES: usize = 32;

/// Which clients the server admits (`--dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DpopMode {
    /// Every session is bound to a key: a sign-in without a proof is refused, and so is every Bearer token.
    Required,
    /// A sign-in with a proof binds its session; one without (a browser without WebCrypto) gets Bearer tokens.
    /// A bound token is never accepted as Bearer.
    Allowed,
    /// Proofs are ignored; every token is Bearer.
    Off,
}

/// What a request with a refresh cookie (at the refresh or the sign-out) proves of the cookie's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKey {
    /// The session is bound to no key, or DPoP is off (a session bound before goes on as a Bearer one).
    Unbound,
    /// The session is bound, and the request's proof is of its key.
    Proven,
    /// The session is bound, and the request proves no key or another one: a cookie without its key, worth
    /// nothing.
    Unproven,
}

/// What a proof of the key `proved` (its thumbprint, if a proof came) says of a session bound to `bound_to`,
/// under `mode`.
pub fn session_key(bound_to: Option<&str>, proved: Option<&str>, mode: DpopMode) -> SessionKey {
    match bound_to {
        Some(jkt) if mode != DpopMode::Off && proved == Some(jkt) => SessionKey::Proven,
        Some(_) if mode != DpopMode::Off => SessionKey::Unproven,
        _ => SessionKey::Unbound,
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ThisRequest<'a> {
    pub method: &'a str,
    /// The origin the app is served from (the public URL's, or the server's own on loopback).
    pub origin: &'a SiteOrigin,
    pub path: &'a str,
    /// The access token presented with it, whose hash the proof must carry (`ath`); none at sign-in and refresh.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The key's JWK SHA-256 thumbprint (RFC 7638), base64url: what a session and its tokens are bound to.
    pub thumbprint: String,
    /// What the replay store remembers: the digest of the key's thumbprint and the proof's `jti`.
    pub replay_key: [u8; 32],
}

/// Why a proof is refused; each but [`ProofError::UseNonce`] is `invalid_dpop_proof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("no DPoP proof")]
    Missing,
    #[error("more than one DPoP header")]
    Several,
    #[error("the proof is not a compact JWS with a JSON header")]
    Malformed,
    #[error("the proof's typ is not dpop+jwt")]
    Type,
    #[error("the proof's alg is not ES256")]
    Algorithm,
    #[error("the proof's jwk is not a public P-256 key")]
    Key,
    #[error("the proof's signature does not verify with its jwk")]
    Signature,
    #[error("the proof lacks a jti, htm, htu or iat")]
    Claims,
    #[error("the proof is for another method")]
    Method,
    #[error("the proof is for another URL")]
    Url,
    #[error("the proof's ath is not the presented access token's hash")]
    AccessTokenHash,
    #[error("the proof's iat is out of the window and it carries no fresh nonce")]
    UseNonce,
    #[error("the proof was presented before")]
    Replayed,
    #[error("the proof is signed by another key than the session's")]
    OtherKey,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Checks `proof` against `request` at `now` (RFC 9449 §4.3, every point but the `jti`'s uniqueness).
///
/// # Errors
/// The first check that fails.
pub fn check(proof: &str, request: ThisRequest<'_>, nonces: &Nonces, now: i64) -> Result<CheckedProof, ProofError> {
    let (header, _) = proof.split_once('.').ok_or(ProofError::Malformed)?;
    let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| ProofError::Malformed)?;
    let header: ProofHeader = serde_json::from_slice(&header).map_err(|_| ProofError::Malformed)?;
    if header.typ.as_deref() != Some(PROOF_TYPE) {
        return Err(ProofError::Type);
    }
    if header.alg.as_deref() != Some("ES256") {
        return Err(ProofError::Algorithm);
    }
    let (x, y) = header.jwk.as_ref().and_then(public_p256_key).ok_or(ProofError::Key)?;
    let key = DecodingKey::from_ec_components(x, y).map_err(|_| ProofError::Key)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation).map_err(|error| match error.kind() {
        jsonwebtoken::errors::ErrorKind::Json(_) => ProofError::Claims,
        _ => ProofError::Signature,
    })?;
    let claims = claims.claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
        return Err(ProofError::Claims);
    }
    if claims.htm != request.method {
        return Err(ProofError::Method);
    }
    if !is_this_url(&claims.htu, request.origin, request.path) {
        return Err(ProofError::Url);
    }
    if let Some(token) = request.access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(ProofError::AccessTokenHash);
    }
    let recent = claims.iat.abs_diff(now) <= IAT_WINDOW.unsigned_abs();
    let fresh_nonce = claims.nonce.as_deref().is_some_and(|nonce| nonces.is_fresh(nonce, now));
    if !recent && !fresh_nonce {
        return Err(ProofError::UseNonce);
    }
    let thumbprint = thumbprint(x, y);
    let replay_key = Sha256::new().chain_update(&thumbprint).chain_update(".").chain_update(&claims.jti).finalize();
    Ok(CheckedProof { thumbprint, replay_key: replay_key.into() })
}

/// `ath`: the base64url SHA-256 of the access token's ASCII text.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The JWK SHA-256 thumbprint of a P-256 key (RFC 7638: the required members, in lexical order, no spaces).
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// `x` and `y` of a public P-256 key in JWK form; `None` for another key type or curve, a private key (`d`), or
/// coordinates that are not 32 bytes of unpadded base64url.
fn public_p256_key(jwk: &serde_json::Map<String, serde_json::Value>) -> Option<(&str, &str)> {
    let text = |name| jwk.get(name).and_then(serde_json::Value::as_str);
    if text("kty") != Some("EC") || text("crv") != Some("P-256") || jwk.contains_key("d") {
        return None;
    }
    let coordinate = |name| {
        text(name).filter(|value| URL_SAFE_NO_PAD.decode(value).is_ok_and(|bytes| bytes.len() == P256_COORDINATE_BYTES))
    };
    Some((coordinate("x")?, coordinate("y")?))
}

/// Whether `htu` names this request's URL: the same origin (scheme, host, port, compared as origins are) and
/// path; its query and fragment are ignored (RFC 9449 §4.3, point 9).
fn is_this_url(htu: &str, origin: &SiteOrigin, path: &str) -> bool {
    let without_fragment = htu.split('#').next().unwrap_or(htu);
    let Ok(uri) = without_fragment.parse::<axum::http::Uri>() else { return false };
    let Some(htu_origin) = SiteOrigin::parse(without_fragment) else { return false };
    htu_origin.is(origin) && uri.path() == path
}

#[cfg(test)]
mod tests;
