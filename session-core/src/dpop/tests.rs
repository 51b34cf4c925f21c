use std::cell::RefCell;

use futures::executor::block_on;
use serde_json::Value;

use super::*;

/// A key whose every answer the test knows: its signature is fixed bytes, its digest the input reversed (see
/// [`known_hash`]), its ids counted; it remembers which pair it made and kept, and being forgotten.
#[derive(Default)]
pub(crate) struct KnownKey {
    pub(crate) signed: RefCell<Vec<String>>,
    ids: std::cell::Cell<u32>,
    pub(crate) forgotten: std::cell::Cell<u32>,
    pub(crate) made: std::cell::Cell<u32>,
    /// The pair kept, by the number it was made with.
    pub(crate) kept: std::cell::Cell<Option<u32>>,
    /// Whether reading the kept pair fails for now (the database's connection lost for a moment).
    pub(crate) unreadable: std::cell::Cell<bool>,
    /// What happens elsewhere while the next read waits for the database.
    pub(crate) while_read: RefCell<Option<Box<dyn FnOnce()>>>,
}

/// The `n`th pair a [`KnownKey`] made: its `x` names it.
pub(crate) struct KnownPair<'a>(u32, &'a KnownKey);

/// What [`KnownKey`] answers as the SHA-256 of `text`, base64url: a proof's `ath` for the token `text`.
pub(crate) fn known_hash(text: &str) -> String {
    base64url(&text.bytes().rev().collect::<Vec<u8>>())
}

impl KeyPair for KnownPair<'_> {
    async fn public_key(&self) -> Result<PublicKey, KeyUnavailable> {
        Ok(PublicKey { x: format!("x-{}", self.0), y: "y-coordinate".to_owned() })
    }
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        self.1.signed.borrow_mut().push(String::from_utf8_lossy(input).into_owned());
        Ok(vec![7; 64])
    }
}

impl KnownKey {
    pub(crate) fn pair(&self, number: u32) -> KnownPair<'_> {
        KnownPair(number, self)
    }
}

/// The key through a shared handle, as a client holds it.
impl<'k> DeviceKey for &'k KnownKey {
    type Pair = KnownPair<'k>;
    async fn make(&self) -> Result<KnownPair<'k>, KeyUnavailable> {
        self.made.set(self.made.get() + 1);
        Ok(KnownPair(self.made.get(), self))
    }
    async fn keep(&self, pair: &KnownPair<'k>) -> Result<(), KeyUnavailable> {
        self.kept.set(Some(pair.0));
        Ok(())
    }
    async fn current(&self) -> Result<Option<KnownPair<'k>>, KeyUnavailable> {
        if let Some(elsewhere) = self.while_read.take() {
            elsewhere();
        }
        if self.unreadable.get() {
            return Err(KeyUnavailable);
        }
        Ok(self.kept.get().map(|number| KnownPair(number, self)))
    }
    async fn sha256(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        Ok(input.iter().rev().copied().collect())
    }
    fn random_id(&self) -> String {
        self.ids.set(self.ids.get() + 1);
        format!("id-{}", self.ids.get())
    }
    async fn forget(&self) {
        self.forgotten.set(self.forgotten.get() + 1);
        self.kept.set(None);
    }
}

/// The header and claims of a compact JWS, as JSON.
pub(crate) fn parts_of(proof: &str) -> (Value, Value) {
    let mut parts = proof.split('.').map(decode);
    let header = serde_json::from_slice(&parts.next().unwrap()).unwrap();
    let claims = serde_json::from_slice(&parts.next().unwrap()).unwrap();
    (header, claims)
}

fn decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let sextets: Vec<u32> = text.chars().map(|c| u32::try_from(ALPHABET.find(c).unwrap()).unwrap()).collect();
    let mut bytes = Vec::new();
    for chunk in sextets.chunks(4) {
        let word = chunk.iter().enumerate().fold(0, |word, (at, &sextet)| word | sextet << (18 - 6 * at));
        for at in 0..chunk.len() - 1 {
            bytes.push(u8::try_from(word >> (16 - 8 * at) & 0xff).unwrap());
        }
    }
    bytes
}

#[test]
fn base64url_is_rfc_4648s_without_padding() {
    for (bytes, text) in [
        (&b""[..], ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
        (&[0xfb, 0xff], "-_8"),
    ] {
        assert_eq!(base64url(bytes), text, "{bytes:?}");
        assert_eq!(decode(text), bytes, "{text}");
    }
}

#[test]
fn iat_is_whole_seconds_and_never_before_the_epoch() {
    for (ms, seconds) in [(1_800_000_000_999.0, 1_800_000_000), (0.0, 0), (-5_000.0, 0), (f64::NAN, 0)] {
        assert_eq!(unix_seconds(ms), seconds, "{ms}");
    }
}

#[test]
fn htu_is_the_url_without_query_and_fragment() {
    for (url, expected) in [
        ("https://app.example/user", "https://app.example/user"),
        ("https://app.example/user?tab=1", "https://app.example/user"),
        ("https://app.example/user#top", "https://app.example/user"),
        ("https://app.example/user?a=1#top", "https://app.example/user"),
        ("http://127.0.0.1:8080/auth/refresh", "http://127.0.0.1:8080/auth/refresh"),
    ] {
        assert_eq!(htu(url), expected, "{url}");
    }
}

#[test]
fn a_proof_says_what_rfc_9449_asks_and_nothing_private() {
    let known = KnownKey::default();
    let key = &known;
    let pair = known.pair(1);
    let request = |access_token, nonce| ProofFor {
        method: "GET",
        url: "https://app.example/user?tab=sessions#top",
        access_token,
        nonce,
        iat: 1_800_000_000,
    };
    let with_token = block_on(proof(&key, &pair, request(Some("abc"), Some("the-nonce")))).unwrap();
    let (header, claims) = parts_of(&with_token);
    assert_eq!(
        header,
        serde_json::json!({
            "typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "x-1", "y": "y-coordinate"}
        })
    );
    assert_eq!(
        claims,
        serde_json::json!({
            "jti": "id-1", "htm": "GET", "htu": "https://app.example/user", "iat": 1_800_000_000,
            "ath": known_hash("abc"), "nonce": "the-nonce"
        })
    );
    assert_eq!(with_token.rsplit('.').next(), Some(base64url(&[7; 64]).as_str()), "the key's signature");
    assert_eq!(known.signed.borrow()[0], with_token.rsplit_once('.').unwrap().0, "it signed header.claims");

    let (_, claims) = parts_of(&block_on(proof(&key, &pair, request(None, None))).unwrap());
    assert_eq!(claims.get("ath"), None, "no token, no hash");
    assert_eq!(claims.get("nonce"), None, "no nonce yet");
    assert_eq!(claims["jti"], "id-2", "a new id each time");
}

#[test]
fn without_a_key_there_is_no_pair_to_prove_with() {
    assert!(block_on(NoDeviceKey.make()).is_err());
    assert!(matches!(block_on(NoDeviceKey.current()), Ok(None)), "none kept: nothing to read, no failure");
}
