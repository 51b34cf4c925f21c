//! RFC 9449 §4.3, one row per check.

use serde_json::{Value, json};

use super::*;
use crate::testing::DpopKey;

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://app.example/user";
const TOKEN: &str = "the.access.token";

fn request(
    method: &'static str,
    access_token: Option<&'static str>,
) -> (SiteOrigin, &'static str, &'static str, Option<&'static str>) {
    (SiteOrigin::parse("https://app.example").unwrap(), method, "/user", access_token)
}

fn nonces() -> Nonces {
    Nonces::new(b"the nonce key".to_vec())
}

/// Checks `proof` as a `GET /user` with [`TOKEN`] at [`NOW`].
fn check_get_user(proof: &str) -> Result<CheckedProof, ProofError> {
    let (origin, method, path, access_token) = request("GET", Some(TOKEN));
    check(proof, ThisRequest { method, origin: &origin, path, access_token }, &nonces(), NOW)
}

/// The browser's proof for `GET /user` with [`TOKEN`], with `change` applied to its header and claims.
fn proof_with(key: &DpopKey, change: impl FnOnce(&mut Value, &mut Value)) -> String {
    let mut header = key.header();
    let mut claims = key.claims("GET", URL, NOW, Some(TOKEN), None);
    change(&mut header, &mut claims);
    key.sign(&header, &claims)
}

#[test]
fn the_browsers_proof_passes_and_names_its_key() {
    let key = DpopKey::generate();
    let checked = check_get_user(&proof_with(&key, |_, _| {})).unwrap();
    assert_eq!(checked.thumbprint, key.thumbprint());
    let again = check_get_user(&proof_with(&key, |_, _| {})).unwrap();
    assert_ne!(checked.replay_key, again.replay_key, "each proof has its own jti");
}

#[test]
fn each_point_of_rfc_9449_refuses_what_breaks_it() {
    let key = DpopKey::generate();
    let other = DpopKey::generate();
    let fresh_nonce = nonces().issue(NOW);
    let stale_nonce = nonces().issue(NOW - 2 * 600);
    type Change = Box<dyn Fn(&mut Value, &mut Value)>;
    let cases: Vec<(&str, Change, Result<(), ProofError>)> = vec![
        ("no typ", Box::new(|h, _| _ = h.as_object_mut().unwrap().remove("typ")), Err(ProofError::Type)),
        ("typ JWT", Box::new(|h, _| h["typ"] = "JWT".into()), Err(ProofError::Type)),
        ("typ in capitals", Box::new(|h, _| h["typ"] = "DPOP+JWT".into()), Err(ProofError::Type)),
        ("alg none", Box::new(|h, _| h["alg"] = "none".into()), Err(ProofError::Algorithm)),
        ("alg HS256", Box::new(|h, _| h["alg"] = "HS256".into()), Err(ProofError::Algorithm)),
        ("alg RS256", Box::new(|h, _| h["alg"] = "RS256".into()), Err(ProofError::Algorithm)),
        ("no jwk", Box::new(|h, _| _ = h.as_object_mut().unwrap().remove("jwk")), Err(ProofError::Key)),
        ("a private jwk", Box::new(|h, _| h["jwk"]["d"] = "AAAA".into()), Err(ProofError::Key)),
        ("an RSA jwk", Box::new(|h, _| h["jwk"]["kty"] = "RSA".into()), Err(ProofError::Key)),
        ("a P-384 jwk", Box::new(|h, _| h["jwk"]["crv"] = "P-384".into()), Err(ProofError::Key)),
        ("a short x", Box::new(|h, _| h["jwk"]["x"] = "AAAA".into()), Err(ProofError::Key)),
        ("another key's jwk", Box::new(move |h, _| h["jwk"] = other.jwk()), Err(ProofError::Signature)),
        ("no jti", Box::new(|_, c| _ = c.as_object_mut().unwrap().remove("jti")), Err(ProofError::Claims)),
        ("an empty jti", Box::new(|_, c| c["jti"] = "".into()), Err(ProofError::Claims)),
        ("a 129-byte jti", Box::new(|_, c| c["jti"] = "j".repeat(129).into()), Err(ProofError::Claims)),
        ("no iat", Box::new(|_, c| _ = c.as_object_mut().unwrap().remove("iat")), Err(ProofError::Claims)),
        ("no htu", Box::new(|_, c| _ = c.as_object_mut().unwrap().remove("htu")), Err(ProofError::Claims)),
        ("htm POST", Box::new(|_, c| c["htm"] = "POST".into()), Err(ProofError::Method)),
        ("htm get", Box::new(|_, c| c["htm"] = "get".into()), Err(ProofError::Method)),
        ("another path", Box::new(|_, c| c["htu"] = "https://app.example/user/sessions".into()), Err(ProofError::Url)),
        ("another host", Box::new(|_, c| c["htu"] = "https://evil.example/user".into()), Err(ProofError::Url)),
        ("http", Box::new(|_, c| c["htu"] = "http://app.example/user".into()), Err(ProofError::Url)),
        ("another port", Box::new(|_, c| c["htu"] = "https://app.example:8443/user".into()), Err(ProofError::Url)),
        ("no URL", Box::new(|_, c| c["htu"] = "/user".into()), Err(ProofError::Url)),
        ("query and fragment", Box::new(|_, c| c["htu"] = "https://app.example/user?a=1#top".into()), Ok(())),
        ("the default port", Box::new(|_, c| c["htu"] = "https://app.example:443/user".into()), Ok(())),
        ("a host in capitals", Box::new(|_, c| c["htu"] = "HTTPS://APP.EXAMPLE/user".into()), Ok(())),
        ("no ath", Box::new(|_, c| _ = c.as_object_mut().unwrap().remove("ath")), Err(ProofError::AccessTokenHash)),
        (
            "another token's ath",
            Box::new(|_, c| c["ath"] = access_token_hash("x.y.z").into()),
            Err(ProofError::AccessTokenHash),
        ),
        ("iat 60 s ago", Box::new(|_, c| c["iat"] = (NOW - 60).into()), Ok(())),
        ("iat 61 s ago", Box::new(|_, c| c["iat"] = (NOW - 61).into()), Err(ProofError::UseNonce)),
        ("iat 61 s ahead", Box::new(|_, c| c["iat"] = (NOW + 61).into()), Err(ProofError::UseNonce)),
        (
            "iat an hour off, a fresh nonce",
            Box::new(move |_, c| {
                c["iat"] = (NOW - 3600).into();
                c["nonce"] = fresh_nonce.clone().into();
            }),
            Ok(()),
        ),
        (
            "iat an hour off, a stale nonce",
            Box::new(move |_, c| {
                c["iat"] = (NOW - 3600).into();
                c["nonce"] = stale_nonce.clone().into();
            }),
            Err(ProofError::UseNonce),
        ),
        (
            "iat an hour off, a made-up nonce",
            Box::new(|_, c| {
                c["iat"] = (NOW - 3600).into();
                c["nonce"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
            }),
            Err(ProofError::UseNonce),
        ),
        ("iat a string", Box::new(|_, c| c["iat"] = NOW.to_string().into()), Err(ProofError::Claims)),
        ("iat i64::MIN", Box::new(|_, c| c["iat"] = i64::MIN.into()), Err(ProofError::UseNonce)),
        ("iat i64::MAX", Box::new(|_, c| c["iat"] = i64::MAX.into()), Err(ProofError::UseNonce)),
    ];
    for (name, change, expected) in cases {
        let outcome =
            check_get_user(&proof_with(&key, change)).map(|checked| assert_eq!(checked.thumbprint, key.thumbprint()));
        assert_eq!(outcome, expected, "{name}");
    }
}

#[test]
fn what_is_not_a_signed_proof_is_malformed_or_unsigned() {
    let key = DpopKey::generate();
    let proof = proof_with(&key, |_, _| {});
    let (unsigned, _) = proof.rsplit_once('.').unwrap();
    let mut tampered = proof.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let unsigned_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"typ": PROOF_TYPE, "alg": "none", "jwk": key.jwk()}).to_string()),
        URL_SAFE_NO_PAD.encode(key.claims("GET", URL, NOW, Some(TOKEN), None).to_string())
    );
    for (name, proof, expected) in [
        ("one word", "proof".to_owned(), ProofError::Malformed),
        ("a header that is not base64url", "!!!.e30.sig".to_owned(), ProofError::Malformed),
        ("a header that is not JSON", format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("typ")), ProofError::Malformed),
        ("no signature", format!("{unsigned}."), ProofError::Signature),
        ("a tampered signature", tampered, ProofError::Signature),
        ("alg none, unsigned", unsigned_none, ProofError::Algorithm),
    ] {
        assert_eq!(check_get_user(&proof), Err(expected), "{name}");
    }
}

#[test]
fn at_sign_in_and_refresh_no_token_is_presented_and_no_ath_needed() {
    let key = DpopKey::generate();
    let origin = SiteOrigin::parse("https://app.example").unwrap();
    let proof = key.proof("POST", "https://app.example/auth/refresh", NOW, None, None);
    let this = ThisRequest { method: "POST", origin: &origin, path: "/auth/refresh", access_token: None };
    assert_eq!(check(&proof, this, &nonces(), NOW).map(|checked| checked.thumbprint), Ok(key.thumbprint()));
}

/// RFC 9449 §4.1's example proof (its key is the one §6.1's `cnf.jkt` names).
const RFC_9449_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

#[test]
fn the_rfcs_own_example_passes_with_the_rfcs_thumbprint() {
    let origin = SiteOrigin::parse("https://server.example.com").unwrap();
    let this = ThisRequest { method: "POST", origin: &origin, path: "/token", access_token: None };
    let checked = check(RFC_9449_PROOF, this, &nonces(), 1_562_262_616).unwrap();
    assert_eq!(checked.thumbprint, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    let elsewhere = ThisRequest { path: "/user", ..this };
    assert_eq!(check(RFC_9449_PROOF, elsewhere, &nonces(), 1_562_262_616), Err(ProofError::Url));
}

#[test]
fn a_bound_session_is_proven_only_by_a_proof_of_its_own_key_unless_dpop_is_off() {
    use DpopMode::{Allowed, Off, Required};
    use SessionKey::{Proven, Unbound, Unproven};
    for (bound_to, proved, mode, expected) in [
        (None, None, Required, Unbound),
        (None, Some("k1"), Allowed, Unbound),
        (Some("k1"), Some("k1"), Required, Proven),
        (Some("k1"), Some("k1"), Allowed, Proven),
        (Some("k1"), None, Required, Unproven),
        (Some("k1"), Some("k2"), Allowed, Unproven),
        (Some("k1"), None, Off, Unbound),
        (Some("k1"), Some("k2"), Off, Unbound),
    ] {
        assert_eq!(session_key(bound_to, proved, mode), expected, "{bound_to:?} {proved:?} {mode:?}");
    }
}
