//! Access tokens: validation pinned per RFC 8725; everything else is a 401 with WWW-Authenticate.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_server::{Clock, Settings};

use crate::support::{Launch, TEST_SECRET, TestServer, access_signing_key, access_signing_key_of, forge};

fn header() -> Value {
    json!({"alg": "HS256", "typ": "at+jwt"})
}

/// The claims of a token the server itself would issue for the signed-in session.
fn claims_of(server: &TestServer, access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), server.app.settings.access_token_ttl);
    claims
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

fn without(claims: &Value, key: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().unwrap().remove(key);
    claims
}

async fn assert_refused(server: &TestServer, case: &str, token: &str) {
    let response = server.get("/user", token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#, "{case}");
}

#[tokio::test]
async fn a_forged_token_that_copies_the_servers_own_claims_is_accepted_only_in_its_exact_form() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let claims = claims_of(&server, &session.access_token);
    let key = access_signing_key();
    // The baseline: our forge reproduces a valid token, so each refusal below is due to its one difference.
    assert_eq!(server.user_status(&forge(&header(), &claims, &key)).await, StatusCode::OK);

    let now = server.clock.now();
    let unsigned = {
        let token = forge(&json!({"alg": "none", "typ": "at+jwt"}), &claims, &key);
        format!("{}.", token.rsplit_once('.').unwrap().0)
    };
    let cases = [
        ("alg none", unsigned),
        ("HS512 header", forge(&json!({"alg": "HS512", "typ": "at+jwt"}), &claims, &key)),
        ("RS256 header", forge(&json!({"alg": "RS256", "typ": "at+jwt"}), &claims, &key)),
        ("another key", forge(&header(), &claims, b"another key that is also long enough")),
        ("typ JWT", forge(&json!({"alg": "HS256", "typ": "JWT"}), &claims, &key)),
        ("no typ", forge(&json!({"alg": "HS256"}), &claims, &key)),
        ("expired", forge(&header(), &with(&claims, "exp", json!(now - 10)), &key)),
        ("nbf in the future", forge(&header(), &with(&claims, "nbf", json!(now + 60)), &key)),
        ("wrong iss", forge(&header(), &with(&claims, "iss", json!("someone-else")), &key)),
        ("wrong aud", forge(&header(), &with(&claims, "aud", json!("another-app")), &key)),
        ("no exp", forge(&header(), &without(&claims, "exp"), &key)),
        ("no sub", forge(&header(), &without(&claims, "sub"), &key)),
        ("no sid", forge(&header(), &without(&claims, "sid"), &key)),
        ("exp as a string", forge(&header(), &with(&claims, "exp", json!((now + 600).to_string())), &key)),
        ("unknown session", forge(&header(), &with(&claims, "sid", json!("not-a-session")), &key)),
        ("trailing garbage", format!("{}garbage", session.access_token)),
        ("four segments", format!("{}.extra", session.access_token)),
        ("two segments", session.access_token.rsplit_once('.').unwrap().0.to_owned()),
        ("empty", String::new()),
    ];
    for (case, token) in &cases {
        assert_refused(&server, case, token).await;
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let url = format!("{}/user?access_token={}", server.base, session.access_token);
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_64_kib_authorization_header_is_refused() {
    let server = TestServer::start(Settings::default()).await;
    let huge = "a".repeat(64 * 1024);
    let response = server.get("/user", &huge).send().await.unwrap();
    assert!(matches!(response.status().as_u16(), 401 | 431), "{}", response.status());
}

#[tokio::test]
async fn kid_jku_and_jwk_headers_are_ignored_and_cause_no_outbound_request() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let claims = claims_of(&server, &session.access_token);
    let key_server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let key_url = format!("http://{}/jwks.json", key_server.local_addr().unwrap());
    // Signed with the real key, the extra field changes nothing: the key is ours, whatever the header names.
    let headers = [
        (json!({"alg": "HS256", "typ": "at+jwt", "kid": "../../etc/passwd"}), StatusCode::OK),
        (json!({"alg": "HS256", "typ": "at+jwt", "jku": key_url}), StatusCode::OK),
        (json!({"alg": "HS256", "typ": "at+jwt", "x5u": key_url}), StatusCode::OK),
        (json!({"alg": "HS256", "typ": "at+jwt", "jwk": {"kty": "oct", "k": "YXR0YWNrZXIta2V5"}}), StatusCode::OK),
    ];
    for (header, expected) in &headers {
        let status = server.user_status(&forge(header, &claims, &access_signing_key())).await;
        assert_eq!(status, *expected, "{header}");
        // Signed with the attacker's key that the jwk header offers: refused.
        let forged = forge(header, &claims, b"attacker-key");
        assert_eq!(server.user_status(&forged).await, StatusCode::UNAUTHORIZED, "{header}");
    }
    let contacted = tokio::time::timeout(Duration::from_millis(300), key_server.accept()).await;
    assert!(contacted.is_err(), "the server fetched a key from the token's header");
}

const NEXT_SECRET: &str = "the next signing secret, also long enough";

#[tokio::test]
async fn after_a_secret_rotation_the_previous_secrets_tokens_live_out_their_lifetime() {
    let before = TestServer::start(Settings::default()).await;
    let session = before.sign_in().await;
    let restart = |previous_secret| Launch {
        secret: NEXT_SECRET,
        previous_secret,
        clock: before.clock.clone(),
        data_dir: Some(before.data_dir.clone()),
        database_url: before.database_url.clone(),
        ..Launch::new(Settings::default())
    };
    // Without the previous secret, the change signs everyone out at once (on PostgreSQL such a start is refused:
    // the database knows its instances' secret, `instances.rs`).
    if before.database_url.is_none() {
        let abrupt = restart(None).start().await;
        assert_eq!(abrupt.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
    }
    // With it, the token signed before the change is still good, until the end of one access lifetime.
    let rotated = restart(Some(TEST_SECRET)).start().await;
    assert_eq!(rotated.user_status(&session.access_token).await, StatusCode::OK);
    let _ = rotated.rotate(&session.refresh_token).await;
    // Inside the window, a token the old secret signs (someone who kept it) cannot outlive the window.
    let claims = claims_of(&rotated, &session.access_token);
    let now = rotated.app.now();
    let far = with(&with(&claims, "iat", json!(now)), "exp", json!(now + 10_000));
    let outliving = forge(&header(), &far, &access_signing_key_of(TEST_SECRET));
    assert_eq!(rotated.user_status(&outliving).await, StatusCode::UNAUTHORIZED);
    // Once the previous secret's tokens have all expired, it signs nothing the server accepts.
    rotated.clock.advance(900);
    let claims = claims_of(&rotated, &session.access_token);
    let now = rotated.app.now();
    let fresh = with(&with(&claims, "iat", json!(now)), "exp", json!(now + 900));
    let under = |secret| forge(&header(), &fresh, &access_signing_key_of(secret));
    assert_eq!(rotated.user_status(&under(NEXT_SECRET)).await, StatusCode::OK, "the session is live");
    assert_eq!(rotated.user_status(&under(TEST_SECRET)).await, StatusCode::UNAUTHORIZED);
    // Starting again with the old secret named does not open its window again.
    let again = restart(Some(TEST_SECRET)).start().await;
    assert_eq!(again.user_status(&under(TEST_SECRET)).await, StatusCode::UNAUTHORIZED);
}
