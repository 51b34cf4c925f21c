//! Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a browser that signed in
//! as an account holds a signed statement of it, `<username>.<nonce>.<HMAC>`. Its sign-ins to that account are
//! throttled on the device's own budget, so guesses from elsewhere, which lock unknown devices out of the
//! account, never lock it out; guesses made with the cookie itself lock only that device.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::auth::tokens::PreviousKey;

const NONCE_BYTES: usize = 16;

/// Issues and checks device cookies' values under a key of their own.
pub struct DeviceCookies {
    key: Vec<u8>,
    /// The previous secret's key, during a rotation.
    previous: Option<PreviousKey<Vec<u8>>>,
}

/// A device cookie that checked out for the account it names: its nonce is the device's throttle key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice(String);

impl KnownDevice {
    pub fn nonce(&self) -> &str {
        &self.0
    }
}

impl DeviceCookies {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key, previous: None }
    }

    /// Also accepts cookies signed with `previous_key` until `until`.
    #[must_use]
    pub fn accepting_previous(mut self, previous_key: Vec<u8>, until: i64) -> Self {
        self.previous = Some(PreviousKey::new(previous_key, until));
        self
    }

    /// A new device cookie's value for `username` (a valid username: no '.' can be mistaken for a separator,
    /// as the name is base64url-encoded).
    pub fn issue(&self, username: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let claim = format!("{}.{}", URL_SAFE_NO_PAD.encode(username), URL_SAFE_NO_PAD.encode(nonce));
        let signature = URL_SAFE_NO_PAD.encode(mac(&self.key, &claim).finalize().into_bytes());
        format!("{claim}.{signature}")
    }

    /// The device, if `value` is a cookie this server issued for exactly `username` (under the current key, or
    /// the previous one until `now` passes its moment).
    pub fn check(&self, value: &str, username: &str, now: i64) -> Option<KnownDevice> {
        let (claim, signature) = value.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let previous = self.previous.as_ref().and_then(|previous| previous.at(now)).map(Vec::as_slice);
        std::iter::once(self.key.as_slice())
            .chain(previous)
            .find(|key| mac(key, claim).verify_slice(&signature).is_ok())?;
        let (name, nonce) = claim.split_once('.')?;
        let name = String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()?;
        (name == username).then(|| KnownDevice(nonce.to_owned()))
    }
}

fn mac(key: &[u8], claim: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(claim.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_names_one_account_and_cannot_be_forged_or_moved() {
        let devices = DeviceCookies::new(b"a key".to_vec());
        let value = devices.issue("ada");
        let known = devices.check(&value, "ada", 0).expect("its own cookie");
        assert_eq!(known.nonce().len(), 22);
        assert_ne!(devices.issue("ada"), value, "a new nonce each time");
        let (claim, _) = value.rsplit_once('.').unwrap();
        let bob = format!("{}.{}", URL_SAFE_NO_PAD.encode("bob"), claim.split_once('.').unwrap().1);
        let cases = [
            (value.clone(), "bob", "another account"),
            (value.clone(), "Ada", "another account, by case"),
            (format!("{bob}.{}", value.rsplit_once('.').unwrap().1), "bob", "the name swapped under the signature"),
            (format!("{claim}.AAAA"), "ada", "a wrong signature"),
            (DeviceCookies::new(b"another key".to_vec()).issue("ada"), "ada", "another server's"),
            ("ada".to_owned(), "ada", "no parts"),
            (String::new(), "ada", "empty"),
            (format!("{value}."), "ada", "a trailing dot"),
        ];
        for (value, username, case) in cases {
            assert_eq!(devices.check(&value, username, 0), None, "{case}");
        }
        let rotated = DeviceCookies::new(b"the next key".to_vec()).accepting_previous(b"a key".to_vec(), 10);
        assert!(rotated.check(&value, "ada", 9).is_some(), "the previous key, during the rotation");
        assert!(rotated.check(&value, "ada", 10).is_none(), "and not after");
    }
}
