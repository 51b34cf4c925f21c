//! DPoP (RFC 9449): the proof a request carries that it comes from the device the session is bound to. What a
//! proof says is decided here, natively tested; the key itself (made, kept and used by the browser's WebCrypto,
//! never exported) is the [`DeviceKey`] port.

use serde::Serialize;

/// A public P-256 key, as a proof's `jwk` carries it: its coordinates, base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `x`, 32 bytes.
    pub x: String,
    /// `y`, 32 bytes.
    pub y: String,
}

/// The device's key cannot be made, read or used here (no WebCrypto, no IndexedDB, a private mode that refuses
/// them, a database that fails to answer just now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this browser cannot keep a device key (WebCrypto or IndexedDB is unavailable)")]
pub struct KeyUnavailable;

/// The device's ECDSA P-256 key, shared by every tab: a new one for each sign-in, kept (where no script can
/// export its private half) only once that sign-in succeeded, forgotten at sign-out.
#[allow(async_fn_in_trait)]
pub trait DeviceKey {
    /// A key pair, read or made once and used for a whole proof (its public key and its signature always agree).
    type Pair: KeyPair;
    /// A new key pair for a sign-in, not kept yet: the key the browser has stays until [`DeviceKey::keep`].
    async fn make(&self) -> Result<Self::Pair, KeyUnavailable>;
    /// Keeps `pair` as the device's key, in place of any (the sign-in it proved succeeded); every tab uses it.
    async fn keep(&self, pair: &Self::Pair) -> Result<(), KeyUnavailable>;
    /// The device's key pair, `None` where none is kept (never made here, forgotten, site data cleared):
    /// a session bound to it is over. [`KeyUnavailable`] where one may be kept but cannot be read just now:
    /// the request fails, the session stays.
    async fn current(&self) -> Result<Option<Self::Pair>, KeyUnavailable>;
    /// The SHA-256 digest of `input`.
    async fn sha256(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable>;
    /// A new random id for a proof's `jti`.
    fn random_id(&self) -> String;
    /// Forgets the key pair.
    async fn forget(&self);
}

/// One key pair: its public key, and signatures by its private one.
#[allow(async_fn_in_trait)]
pub trait KeyPair {
    /// The public key.
    async fn public_key(&self) -> Result<PublicKey, KeyUnavailable>;
    /// The ES256 signature of `input` (64 bytes, `r` then `s`) by the private key.
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable>;
}

/// No device key: every session is a Bearer one (a client that does not want DPoP, or a test).
pub struct NoDeviceKey;

/// The key pair [`NoDeviceKey`] never has.
pub enum NoKeyPair {}

impl KeyPair for NoKeyPair {
    async fn public_key(&self) -> Result<PublicKey, KeyUnavailable> {
        match *self {}
    }
    async fn sign(&self, _: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        match *self {}
    }
}

impl DeviceKey for NoDeviceKey {
    type Pair = NoKeyPair;
    async fn make(&self) -> Result<NoKeyPair, KeyUnavailable> {
        Err(KeyUnavailable)
    }
    async fn keep(&self, pair: &NoKeyPair) -> Result<(), KeyUnavailable> {
        match *pair {}
    }
    async fn current(&self) -> Result<Option<NoKeyPair>, KeyUnavailable> {
        Ok(None)
    }
    async fn sha256(&self, _: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        Err(KeyUnavailable)
    }
    fn random_id(&self) -> String {
        String::new()
    }
    async fn forget(&self) {}
}

/// What one proof is for.
#[derive(Debug, Clone, Copy)]
pub struct ProofFor<'a> {
    /// The request's method, as HTTP spells it.
    pub method: &'a str,
    /// The request's absolute URL (see [`Transport::url`](crate::Transport::url)).
    pub url: &'a str,
    /// The access token sent with it, whose hash the proof carries.
    pub access_token: Option<&'a str>,
    /// The server's latest nonce.
    pub nonce: Option<&'a str>,
    /// Seconds since the Unix epoch, by this device's clock (a nonce vouches for a clock that is off).
    pub iat: i64,
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    jwk: Jwk<'a>,
}

/// RFC 7638's members of a P-256 key, which are all a public key needs.
#[derive(Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    crv: &'static str,
    x: &'a str,
    y: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// A proof for `request`, signed by `pair` (the key's digest and ids).
///
/// # Errors
/// The key cannot be used.
pub async fn proof<K: DeviceKey>(key: &K, pair: &K::Pair, request: ProofFor<'_>) -> Result<String, KeyUnavailable> {
    let public = pair.public_key().await?;
    let ath = match request.access_token {
        Some(token) => Some(base64url(&key.sha256(token.as_bytes()).await?)),
        None => None,
    };
    let jti = key.random_id();
    let input = signing_input(&public, &jti, ath.as_deref(), request);
    let signature = pair.sign(input.as_bytes()).await?;
    Ok(format!("{input}.{}", base64url(&signature)))
}

/// `base64url(header).base64url(claims)`: what the key signs.
fn signing_input(public: &PublicKey, jti: &str, ath: Option<&str>, request: ProofFor<'_>) -> String {
    let header =
        Header { typ: "dpop+jwt", alg: "ES256", jwk: Jwk { kty: "EC", crv: "P-256", x: &public.x, y: &public.y } };
    let claims =
        Claims { jti, htm: request.method, htu: htu(request.url), iat: request.iat, ath, nonce: request.nonce };
    // Strings and numbers only: serializing cannot fail.
    let header = serde_json::to_string(&header).unwrap_or_default();
    let claims = serde_json::to_string(&claims).unwrap_or_default();
    format!("{}.{}", base64url(header.as_bytes()), base64url(claims.as_bytes()))
}

/// Whole seconds since the Unix epoch of a wall clock's `ms` (none before it).
pub(crate) fn unix_seconds(ms: f64) -> i64 {
    std::time::Duration::try_from_secs_f64(ms / 1_000.0)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

/// `htu`: the URL without its query and fragment (RFC 9449 §4.2).
pub fn htu(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Unpadded base64url (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (at, &byte)| word | u32::from(byte) << (16 - 8 * at));
        for sextet in 0..=chunk.len() {
            text.push(char::from(ALPHABET[(word >> (18 - 6 * sextet) & 0x3f) as usize]));
        }
    }
    text
}

#[cfg(test)]
pub(crate) mod tests;
