//! A client's DPoP key, as a test holds it: it signs proofs the way the browser does, or any header and claims a
//! test needs to show a check refusing them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use serde_json::{Value, json};

use crate::auth::dpop::{PROOF_TYPE, access_token_hash, thumbprint};

/// An ECDSA P-256 key pair.
pub struct DpopKey {
    signing: EncodingKey,
    x: String,
    y: String,
}

impl DpopKey {
    pub fn generate() -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // Fails only for the rare values at or past the curve's order.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let point = secret.public_key().to_encoded_point(false);
        let coordinate =
            |bytes: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(bytes.expect("an uncompressed point"));
        let der = secret.to_pkcs8_der().expect("a PKCS#8 encoding");
        Self { signing: EncodingKey::from_ec_der(der.as_bytes()), x: coordinate(point.x()), y: coordinate(point.y()) }
    }

    /// The public key as a proof's header carries it.
    pub fn jwk(&self) -> Value {
        json!({ "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y })
    }

    /// Its JWK SHA-256 thumbprint (`cnf.jkt`).
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.x, &self.y)
    }

    /// The header a browser sends.
    pub fn header(&self) -> Value {
        json!({ "typ": PROOF_TYPE, "alg": "ES256", "jwk": self.jwk() })
    }

    /// The claims a browser sends for `method` on `url` at `iat`, with the token's hash and the server's nonce
    /// when given.
    pub fn claims(&self, method: &str, url: &str, iat: i64, access_token: Option<&str>, nonce: Option<&str>) -> Value {
        let mut claims = json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = access_token_hash(token).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        claims
    }

    /// A proof as the browser makes it.
    pub fn proof(&self, method: &str, url: &str, iat: i64, access_token: Option<&str>, nonce: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(method, url, iat, access_token, nonce))
    }

    /// `header` and `claims` as a compact JWS signed with this key (ES256), whatever they say.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.signing, Algorithm::ES256)
            .expect("ES256 signs with a P-256 key");
        format!("{input}.{signature}")
    }
}
