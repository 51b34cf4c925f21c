//! Server nonces (RFC 9449 §8) without state: a time slot and its HMAC under a key derived from the secret, so
//! every instance on the same secret issues and accepts the same nonces. A proof that carries a fresh one is
//! fresh whatever its `iat` says (a client whose clock is off); a nonce lives one to two slots.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One slot's length, in seconds.
const SLOT_SECONDS: i64 = 300;
/// The longest a nonce is accepted: the rest of its slot and the whole next one.
pub const NONCE_LIFETIME: i64 = 2 * SLOT_SECONDS;
/// The MAC's bytes kept in a nonce: 128 bits cannot be guessed.
const MAC_BYTES: usize = 16;

pub struct Nonces {
    key: Vec<u8>,
}

impl Nonces {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// The nonce of `now`'s slot.
    pub fn issue(&self, now: i64) -> String {
        let slot = now.div_euclid(SLOT_SECONDS);
        let mut nonce = slot.to_be_bytes().to_vec();
        nonce.extend_from_slice(&self.mac(slot).finalize().into_bytes()[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(nonce)
    }

    /// Whether `nonce` is one of ours, of `now`'s slot or the one before.
    pub fn is_fresh(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else { return false };
        let Some((slot, mac)) = bytes.split_first_chunk::<8>() else { return false };
        let slot = i64::from_be_bytes(*slot);
        let current = now.div_euclid(SLOT_SECONDS);
        (slot == current || slot == current - 1)
            && mac.len() == MAC_BYTES
            && self.mac(slot).verify_truncated_left(mac).is_ok()
    }

    fn mac(&self, slot: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&slot.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_fresh_for_its_slot_and_the_next_one_only() {
        let nonces = Nonces::new(b"key".to_vec());
        let issued_at = 1_000 * SLOT_SECONDS + 7;
        let nonce = nonces.issue(issued_at);
        for (now, fresh) in [
            (issued_at, true),
            (issued_at + SLOT_SECONDS, true),
            (issued_at - 7 + NONCE_LIFETIME - 1, true),
            (issued_at - 7 + NONCE_LIFETIME, false),
            (issued_at - 8, false),
        ] {
            assert_eq!(nonces.is_fresh(&nonce, now), fresh, "at {now}");
        }
    }

    #[test]
    fn only_this_secrets_whole_nonces_are_fresh() {
        let nonces = Nonces::new(b"key".to_vec());
        let now = 1_700_000_000;
        let nonce = nonces.issue(now);
        let other = Nonces::new(b"another key".to_vec()).issue(now);
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = URL_SAFE_NO_PAD.encode(&bytes);
        let truncated = URL_SAFE_NO_PAD.encode(&bytes[..12]);
        for refused in [other.as_str(), &flipped, &truncated, "", "not base64!", "AAAAAAAAAAA"] {
            assert!(!nonces.is_fresh(refused, now), "{refused:?}");
        }
        assert!(nonces.is_fresh(&nonce, now));
    }
}
