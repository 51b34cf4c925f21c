//! Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a browser that signed in
//! as an account holds a signed statement of it, `<username>.<nonce>.<password>.<HMAC>`. Its sign-ins to that
//! account are throttled on the device's own budget, so guesses from elsewhere, which lock unknown devices out
//! of the account, never lock it out; guesses made with the cookie itself lock only that device. `<password>`
//! names the password it signed in with (a digest of the account's stored hash, whose salt is secret): after a
//! password change every earlier device is a stranger again, so the cookies of someone who had the old
//! password give no budgets beside the account's ceiling.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::tokens::PreviousKey;

const NONCE_BYTES: usize = 16;
/// Bytes of the password hash's digest a cookie carries.
const PASSWORD_TAG_BYTES: usize = 12;

/// Issues and checks device cookies' values under a key of their own.
pub struct DeviceCookies {
    key: Vec<u8>,
    /// The previous secret's key, during a rotation.
    previous: Option<PreviousKey<Vec<u8>>>,
}

/// A device cookie that checked out for the account it names: its nonce is the device's throttle key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    nonce: String,
    password: String,
}

impl KnownDevice {
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether it was issued while the account's password was the one `password_hash` stores.
    pub fn of_password(&self, password_hash: &str) -> bool {
        self.password == password_tag(password_hash)
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

    /// A new device cookie's value for `username`, whose password `password_hash` stores (the name is
    /// base64url-encoded: no '.' in it can be mistaken for a separator).
    pub fn issue(&self, username: &str, password_hash: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let (name, nonce) = (URL_SAFE_NO_PAD.encode(username), URL_SAFE_NO_PAD.encode(nonce));
        let claim = format!("{name}.{nonce}.{}", password_tag(password_hash));
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
        let mut parts = claim.splitn(3, '.');
        let (name, nonce, password) = (parts.next()?, parts.next()?, parts.next()?);
        let name = String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()?;
        (name == username).then(|| KnownDevice { nonce: nonce.to_owned(), password: password.to_owned() })
    }
}

fn password_tag(password_hash: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(password_hash.as_bytes())[..PASSWORD_TAG_BYTES])
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
        let value = devices.issue("ada", "$argon2id$first");
        let known = devices.check(&value, "ada", 0).expect("its own cookie");
        assert_eq!(known.nonce().len(), 22);
        assert!(known.of_password("$argon2id$first"));
        assert!(!known.of_password("$argon2id$second"), "a stranger once the password changed");
        assert_ne!(devices.issue("ada", "$argon2id$first"), value, "a new nonce each time");
        let (claim, _) = value.rsplit_once('.').unwrap();
        let bob = format!("{}.{}", URL_SAFE_NO_PAD.encode("bob"), claim.split_once('.').unwrap().1);
        let two_parts = claim.rsplit_once('.').unwrap().0;
        let earlier_format =
            format!("{two_parts}.{}", URL_SAFE_NO_PAD.encode(mac(b"a key", two_parts).finalize().into_bytes()));
        let cases = [
            (value.clone(), "bob", "another account"),
            (value.clone(), "Ada", "another account, by case"),
            (format!("{bob}.{}", value.rsplit_once('.').unwrap().1), "bob", "the name swapped under the signature"),
            (format!("{claim}.AAAA"), "ada", "a wrong signature"),
            (DeviceCookies::new(b"another key".to_vec()).issue("ada", "$argon2id$first"), "ada", "another server's"),
            ("ada".to_owned(), "ada", "no parts"),
            (String::new(), "ada", "empty"),
            (format!("{value}."), "ada", "a trailing dot"),
            (earlier_format.clone(), "ada", "signed, but naming no password (issued before passwords were named)"),
        ];
        for (value, username, case) in cases {
            assert_eq!(devices.check(&value, username, 0), None, "{case}");
        }
        let rotated = DeviceCookies::new(b"the next key".to_vec()).accepting_previous(b"a key".to_vec(), 10);
        assert!(rotated.check(&value, "ada", 9).is_some(), "the previous key, during the rotation");
        assert!(rotated.check(&value, "ada", 10).is_none(), "and not after");
    }
}
