//! The device's DPoP key in a browser: an ECDSA P-256 key pair made by WebCrypto with a **non-extractable**
//! private key, kept in IndexedDB (a stored `CryptoKey` stays unexportable), so that every tab and every reload
//! signs with the same key and no script, this page's own included, can take the private key away.

pub(crate) mod indexed_db;

use std::cell::RefCell;

use js_sys::{Array, Reflect, Uint8Array};
use session_core::{DeviceKey, KeyPair, KeyUnavailable, PublicKey};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, CryptoKeyPair, EcKeyGenParams, EcdsaParams, SubtleCrypto};

use indexed_db::{Failed, KeyStore};

/// The [`DeviceKey`] of a browser: WebCrypto for the key, the signatures, the digests and the ids; IndexedDB
/// to keep the key pair. Without WebCrypto every call is [`KeyUnavailable`], and the session client signs in
/// with Bearer tokens and says so. Where IndexedDB refuses to keep the pair (a browser keeping no site data),
/// the tab that made it keeps it in memory, and the session it was bound to goes on in that tab until the page
/// is left (where localStorage works the token is shared, but another tab has no key to prove it with).
#[derive(Default)]
pub struct WebCryptoKey {
    store: KeyStore,
    /// The pair IndexedDB refused to keep.
    memory: RefCell<Option<CryptoKeyPair>>,
}

/// A key pair as WebCrypto holds it: the private half usable, never exportable.
pub struct BrowserKeyPair(CryptoKeyPair);

impl DeviceKey for WebCryptoKey {
    type Pair = BrowserKeyPair;

    async fn make(&self) -> Result<BrowserKeyPair, KeyUnavailable> {
        let algorithm = EcKeyGenParams::new("ECDSA", "P-256");
        let usages = Array::of2(&"sign".into(), &"verify".into());
        let made = subtle()?.generate_key_with_object(&algorithm, false, &usages).map_err(|_| KeyUnavailable)?;
        Ok(BrowserKeyPair(JsFuture::from(made).await.map_err(|_| KeyUnavailable)?.unchecked_into()))
    }

    async fn keep(&self, pair: &BrowserKeyPair) -> Result<(), KeyUnavailable> {
        let kept = self.store.put(&pair.0).await;
        if kept == Err(Failed::Refused) {
            // The pair IndexedDB still holds, if it can be read, is an earlier session's: gone, so that it is not
            // read before this one. (Not after a write that was late: a delete sent now would land after it.)
            self.store.delete().await;
        }
        self.memory.replace(kept.is_err().then(|| pair.0.clone()));
        Ok(())
    }

    /// IndexedDB's pair where it holds one (every tab's, and the newest: another tab may have signed in since),
    /// else the one this tab kept in memory; else none, or IndexedDB's failure to read (the pair may be there).
    async fn current(&self) -> Result<Option<BrowserKeyPair>, KeyUnavailable> {
        match self.store.get().await {
            Ok(Some(stored)) => Ok(Some(BrowserKeyPair(stored))),
            outcome => match self.memory.borrow().clone() {
                Some(kept) => Ok(Some(BrowserKeyPair(kept))),
                None => outcome.map(|_| None),
            },
        }
    }

    async fn sha256(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        bytes_of(subtle()?.digest_with_str_and_u8_array("SHA-256", input).map_err(|_| KeyUnavailable)?).await
    }

    fn random_id(&self) -> String {
        web_sys::window().and_then(|window| window.crypto().ok()).map(|crypto| crypto.random_uuid()).unwrap_or_default()
    }

    async fn forget(&self) {
        self.memory.replace(None);
        self.store.delete().await;
    }
}

impl KeyPair for BrowserKeyPair {
    async fn public_key(&self) -> Result<PublicKey, KeyUnavailable> {
        let exported = subtle()?.export_key("jwk", &self.0.get_public_key()).map_err(|_| KeyUnavailable)?;
        let jwk = JsFuture::from(exported).await.map_err(|_| KeyUnavailable)?;
        let member = |name: &str| Reflect::get(&jwk, &name.into()).ok().and_then(|value| value.as_string());
        Ok(PublicKey { x: member("x").ok_or(KeyUnavailable)?, y: member("y").ok_or(KeyUnavailable)? })
    }

    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyUnavailable> {
        let private: CryptoKey = self.0.get_private_key();
        let algorithm = EcdsaParams::new("ECDSA", &"SHA-256".into());
        let signing =
            subtle()?.sign_with_object_and_u8_array(&algorithm, &private, input).map_err(|_| KeyUnavailable)?;
        bytes_of(signing).await
    }
}

fn subtle() -> Result<SubtleCrypto, KeyUnavailable> {
    let crypto = web_sys::window().ok_or(KeyUnavailable)?.crypto().map_err(|_| KeyUnavailable)?;
    // `crypto.subtle` is undefined outside a secure context.
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(|_| KeyUnavailable)?;
    if subtle.is_undefined() {
        return Err(KeyUnavailable);
    }
    Ok(subtle.unchecked_into())
}

/// The bytes of an `ArrayBuffer` a WebCrypto promise resolves to.
async fn bytes_of(promise: js_sys::Promise) -> Result<Vec<u8>, KeyUnavailable> {
    let buffer: JsValue = JsFuture::from(promise).await.map_err(|_| KeyUnavailable)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
