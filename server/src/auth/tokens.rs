//! Access tokens (HS256 JWTs pinned by RFC 8725's advice) and opaque refresh tokens.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
const LEEWAY_SECONDS: i64 = 5;
// RFC 8725 and OWASP: a leeway of a few seconds, no more.
const _: () = assert!(LEEWAY_SECONDS <= 5);
const REFRESH_TOKEN_BYTES: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Never issued by this server, but honoured if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    /// The key the token is bound to (RFC 9449 §6.1), for a session signed in with a DPoP proof: then it is
    /// accepted only under the `DPoP` scheme with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// `cnf`: the JWK SHA-256 thumbprint of the key a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The previous secret's key, during a rotation.
    previous: Option<PreviousKey<DecodingKey>>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: i64,
    /// Tokens whose signature and claims already passed, by their exact text, so a token is verified once and
    /// not on each of its requests. Only a verified token gets in; expiry is still checked on every use.
    verified: RwLock<HashMap<String, Arc<AccessClaims>>>,
}

const MAX_VERIFIED_TOKENS: usize = 10_000;

impl AccessTokens {
    /// Tokens signed with `signing_key`, naming `issuer` and `audience`, valid for `ttl` seconds.
    pub fn new(signing_key: &[u8], issuer: &str, audience: &str, ttl: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time claims are checked against the server's clock (the one tests move), in `is_current`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(signing_key),
            decoding: DecodingKey::from_secret(signing_key),
            previous: None,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Also accepts tokens signed with `previous_key` until `until` (the tokens issued before a secret rotation
    /// live one access lifetime at most).
    #[must_use]
    pub fn accepting_previous(mut self, previous_key: &[u8], until: i64) -> Self {
        self.previous = Some(PreviousKey::new(DecodingKey::from_secret(previous_key), until));
        self
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// A token for `session_id`, bound to the key `jkt` names when the session is.
    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        jkt: Option<&str>,
        now: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_owned(),
            iat: now,
            exp: now + self.ttl,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            cnf: jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// Signature, algorithm, `typ`, issuer, audience, and the time claims at `now`; `None` for anything that is
    /// not ours or not current.
    pub fn verify(&self, token: &str, now: i64) -> Option<Arc<AccessClaims>> {
        let known = self.verified.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token).cloned();
        if let Some(claims) = known {
            return is_current(&claims, now).then_some(claims);
        }
        // `validation` admits HS256 alone; the type is checked on the header decode already parsed.
        let decode = |key| jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).ok();
        let data = decode(&self.decoding).or_else(|| {
            // The previous secret's tokens, inside its window only, and none that would outlive it (a token minted
            // with a leaked old secret cannot reach past the rotation).
            let previous = self.previous.as_ref()?;
            decode(previous.at(now)?).filter(|data| data.claims.exp <= previous.until)
        })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) || !is_current(&data.claims, now) {
            return None;
        }
        let claims = Arc::new(data.claims);
        let mut verified = self.verified.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if verified.len() >= MAX_VERIFIED_TOKENS {
            verified.retain(|_, claims| is_current(claims, now));
            if verified.len() >= MAX_VERIFIED_TOKENS {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), Arc::clone(&claims));
        Some(claims)
    }
}

/// jsonwebtoken's rule, on our clock: expired once `exp` is more than the leeway in the past, and not yet valid
/// while `nbf` is more than the leeway in the future.
fn is_current(claims: &AccessClaims, now: i64) -> bool {
    claims.exp >= now - LEEWAY_SECONDS && claims.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS)
}

/// Refresh tokens are 32 CSPRNG bytes, base64url; the store keeps only their SHA-256.
///
/// To answer a grace-window retry with the *same* child without storing it, the child is kept sealed: XORed with
/// an HMAC of its parent's plaintext. Only someone presenting the parent can open it, and the seal is dropped as
/// soon as the child is rotated.
pub struct RefreshTokens {
    seal_key: Vec<u8>,
    /// The previous secret's seal key, during a rotation.
    previous: Option<PreviousKey<Vec<u8>>>,
}

pub struct IssuedRefreshToken {
    pub plaintext: String,
    pub hash: Vec<u8>,
}

impl RefreshTokens {
    pub fn new(seal_key: Vec<u8>) -> Self {
        Self { seal_key, previous: None }
    }

    /// Also opens seals made with `previous_key` until `until` (children sealed just before a secret rotation).
    #[must_use]
    pub fn accepting_previous(mut self, previous_key: Vec<u8>, until: i64) -> Self {
        self.previous = Some(PreviousKey::new(previous_key, until));
        self
    }

    pub fn generate(&self) -> IssuedRefreshToken {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let plaintext = URL_SAFE_NO_PAD.encode(bytes);
        let hash = digest(&plaintext);
        IssuedRefreshToken { plaintext, hash }
    }

    pub fn seal(&self, parent: &str, child: &str) -> Vec<u8> {
        let raw = URL_SAFE_NO_PAD.decode(child).unwrap_or_default();
        xor(&raw, &pad(&self.seal_key, parent))
    }

    /// The child sealed for `parent`, if it opens to the one whose digest is `child_hash` (the seal opens to
    /// *a* token under any key; only the stored digest proves it is the one).
    pub fn unseal(&self, parent: &str, sealed: &[u8], child_hash: &[u8], now: i64) -> Option<IssuedRefreshToken> {
        if sealed.len() != REFRESH_TOKEN_BYTES {
            return None;
        }
        let previous = self.previous.as_ref().and_then(|previous| previous.at(now)).map(Vec::as_slice);
        std::iter::once(self.seal_key.as_slice()).chain(previous).find_map(|key| {
            let plaintext = URL_SAFE_NO_PAD.encode(xor(sealed, &pad(key, parent)));
            let hash = digest(&plaintext);
            (hash == child_hash).then_some(IssuedRefreshToken { plaintext, hash })
        })
    }
}

fn pad(key: &[u8], parent: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(parent.as_bytes());
    mac.finalize().into_bytes().into()
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn xor(data: &[u8], pad: &[u8]) -> Vec<u8> {
    data.iter().zip(pad).map(|(a, b)| a ^ b).collect()
}

/// A key of the secret used before a rotation, still accepted until a moment (one access lifetime after the
/// rotation began).
pub struct PreviousKey<K> {
    key: K,
    until: i64,
}

impl<K> PreviousKey<K> {
    pub fn new(key: K, until: i64) -> Self {
        Self { key, until }
    }

    /// The key, while `now` is inside its window.
    pub fn at(&self, now: i64) -> Option<&K> {
        (now < self.until).then_some(&self.key)
    }
}

/// Separate keys for separate jobs, all derived from the one configured secret.
pub fn derive_key(secret: &[u8], purpose: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_validation_is_pinned_to_hs256_with_iss_aud_exp_nbf_and_at_most_5s_leeway() {
        let tokens = AccessTokens::new(b"key", "the-issuer", "the-audience", 900);
        let validation = &tokens.validation;
        assert_eq!(validation.algorithms, [Algorithm::HS256]);
        assert!(validation.validate_aud);
        assert_eq!(validation.iss, Some(["the-issuer".to_owned()].into()));
        assert_eq!(validation.aud, Some(["the-audience".to_owned()].into()));
        let required: std::collections::HashSet<String> =
            ["exp", "iss", "aud", "sub"].into_iter().map(str::to_owned).collect();
        assert_eq!(validation.required_spec_claims, required);
        assert_eq!(ACCESS_TOKEN_TYPE, "at+jwt", "verify refuses any other typ");
    }

    #[test]
    fn a_verified_token_is_remembered_but_its_expiry_still_counts() {
        let tokens = AccessTokens::new(b"key", "session-server", "session-app", 60);
        // Far from the system's time: only the given clock counts.
        let now = 4_000_000_000;
        let fresh = tokens.issue(1, "session", None, now).unwrap();
        assert_eq!(tokens.verify(&fresh, now).unwrap().sid, "session");
        assert_eq!(tokens.verify(&fresh, now).unwrap().sid, "session", "the second use hits the cache");
        assert!(tokens.verify(&fresh, now + 65).is_some(), "within the 5 s leeway");
        assert!(tokens.verify(&fresh, now + 66).is_none(), "a remembered token expires like any other");

        let late = tokens.issue(1, "session", None, now - 66).unwrap();
        assert!(tokens.verify(&late, now).is_none(), "expired on first sight");

        let mut tampered = fresh.clone();
        tampered.push('x');
        assert!(tokens.verify(&tampered, now).is_none());
    }

    #[test]
    fn a_thousand_refresh_tokens_have_no_duplicate() {
        let tokens = RefreshTokens::new(b"key".to_vec());
        let issued: std::collections::HashSet<String> = (0..1000).map(|_| tokens.generate().plaintext).collect();
        assert_eq!(issued.len(), 1000);
    }

    #[test]
    fn a_sealed_child_opens_only_with_its_parent() {
        let tokens = RefreshTokens::new(b"key".to_vec());
        let parent = tokens.generate();
        let child = tokens.generate();
        let sealed = tokens.seal(&parent.plaintext, &child.plaintext);
        assert_eq!(tokens.unseal(&parent.plaintext, &sealed, &child.hash, 0).unwrap().plaintext, child.plaintext);
        let stranger = tokens.generate();
        assert!(tokens.unseal(&stranger.plaintext, &sealed, &child.hash, 0).is_none());
        // After a secret rotation, a seal made under the previous key opens until the stated moment.
        let rotated = RefreshTokens::new(b"new key".to_vec()).accepting_previous(b"key".to_vec(), 10);
        assert_eq!(rotated.unseal(&parent.plaintext, &sealed, &child.hash, 9).unwrap().plaintext, child.plaintext);
        assert!(rotated.unseal(&parent.plaintext, &sealed, &child.hash, 10).is_none());
    }

    #[test]
    fn refresh_tokens_carry_32_random_bytes() {
        let tokens = RefreshTokens::new(b"key".to_vec());
        let token = tokens.generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token.plaintext).unwrap().len(), 32);
        assert_eq!(token.hash, Sha256::digest(token.plaintext.as_bytes()).to_vec());
    }
}
