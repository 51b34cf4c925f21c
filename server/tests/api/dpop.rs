//! DPoP (RFC 9449) over HTTP: a sign-in with a proof binds the session to the client's key; its access tokens
//! (`cnf.jkt`) and refresh cookie are then worthless without that key, and what a thief copies fails without
//! ending the real user's session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use session_server::testing::DpopKey;
use session_server::{Clock, DEMO_PASSWORD, DEMO_USERNAME, DpopMode, Settings, SiteOrigin};

use crate::support::{Launch, SignedIn, TestServer, error_code, refresh_cookie};

const NEEDS_POSTGRES: &str = "needs PostgreSQL: cargo xtask test starts a cluster and includes it";

fn required() -> Settings {
    Settings { dpop: DpopMode::Required, ..Settings::default() }
}

/// An answer's error code and its `WWW-Authenticate` and `DPoP-Nonce` headers.
async fn refusal(answer: reqwest::Response) -> (StatusCode, String, String, Option<String>) {
    let header = |name| {
        answer.headers().get(name).map(|value: &reqwest::header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let (challenge, nonce) = (header("www-authenticate").unwrap_or_default(), header("dpop-nonce"));
    let (status, code) = error_code(answer).await;
    (status, code, challenge, nonce)
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A proof from `key` for `method` on `path`, now by the server's clock.
    fn proof(&self, key: &DpopKey, method: &str, path: &str, access_token: Option<&str>) -> String {
        key.proof(method, &self.url(path), self.clock.now(), access_token, None)
    }

    async fn dpop_sign_in(&self, key: &DpopKey) -> SignedIn {
        let answer = self
            .post("/auth/login")
            .header("DPoP", self.proof(key, "POST", "/auth/login", None))
            .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let refresh_token = refresh_cookie(answer.headers()).expect("a refresh cookie");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["tokenType"], "DPoP");
        SignedIn { access_token: body["accessToken"].as_str().unwrap().to_owned(), refresh_token }
    }

    /// `GET path` with the token under the DPoP scheme and `proof`, if any.
    async fn dpop_get(&self, path: &str, access_token: &str, proof: Option<String>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path)).header("Authorization", format!("DPoP {access_token}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }

    async fn dpop_refresh(&self, refresh_token: &str, proof: Option<String>) -> reqwest::Response {
        self.with_cookie("/auth/refresh", refresh_token, proof).await
    }

    /// `POST path` (the refresh, the sign-out) with the refresh cookie `refresh_token` and `proof`, if any.
    async fn with_cookie(&self, path: &str, refresh_token: &str, proof: Option<String>) -> reqwest::Response {
        let mut request = self.post(path).header("Cookie", format!("__Secure-refresh={refresh_token}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }
}

/// The access token's claims, unverified (the test only reads what the server wrote).
fn claims_of(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_sign_in_with_a_proof_binds_the_session_and_its_tokens_to_the_key() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let session = server.dpop_sign_in(&key).await;
    assert_eq!(claims_of(&session.access_token)["cnf"]["jkt"], key.thumbprint());
    let proof = server.proof(&key, "GET", "/user", Some(&session.access_token));
    let answer = server.dpop_get("/user", &session.access_token, Some(proof)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.headers().contains_key("dpop-nonce"), "every answer brings a fresh nonce");

    let refreshed =
        server.dpop_refresh(&session.refresh_token, Some(server.proof(&key, "POST", "/auth/refresh", None)));
    let refreshed = refreshed.await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(body["tokenType"], "DPoP");
    assert_eq!(claims_of(body["accessToken"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint(), "still bound");
}

#[tokio::test]
async fn a_bound_access_token_is_worthless_without_a_fresh_proof_of_its_key() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let token = server.dpop_sign_in(&key).await.access_token;
    let now = server.clock.now();
    let url = server.url("/user");
    let thief = DpopKey::generate();
    let replayed = server.proof(&key, "GET", "/user", Some(&token));
    assert_eq!(server.dpop_get("/user", &token, Some(replayed.clone())).await.status(), StatusCode::OK);

    let downgraded = server.get("/user", &token).send().await.unwrap();
    let (status, code, _, _) = refusal(downgraded).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"), "a bound token as Bearer");
    for (name, proof) in [
        ("no proof", None),
        ("the thief's own key", Some(thief.proof("GET", &url, now, Some(&token), None))),
        ("a proof seen before", Some(replayed)),
        ("another URL", Some(key.proof("GET", &server.url("/user/sessions"), now, Some(&token), None))),
        ("another method", Some(key.proof("DELETE", &url, now, Some(&token), None))),
        ("another token's hash", Some(key.proof("GET", &url, now, Some("an.other.token"), None))),
        ("no token hash", Some(key.proof("GET", &url, now, None, None))),
    ] {
        let (status, code, challenge, _) = refusal(server.dpop_get("/user", &token, proof).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"), "{name}");
        assert!(challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"), "{name}: {challenge}");
    }
    let fresh = server.proof(&key, "GET", "/user", Some(&token));
    assert_eq!(server.dpop_get("/user", &token, Some(fresh)).await.status(), StatusCode::OK, "the owner still can");
}

#[tokio::test]
async fn a_copied_refresh_cookie_is_refused_without_the_key_and_the_owner_goes_on() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let session = server.dpop_sign_in(&key).await;
    let thief = DpopKey::generate();
    for (name, proof) in [
        ("no proof", None),
        ("the thief's own key", Some(server.proof(&thief, "POST", "/auth/refresh", None))),
        ("a proof for the sign-in", Some(server.proof(&key, "POST", "/auth/login", None))),
    ] {
        let (status, code, _, _) = refusal(server.dpop_refresh(&session.refresh_token, proof).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"), "{name}");
    }
    // Nothing was rotated, and nothing revoked: the owner's refresh is the session's first.
    let owner = server.dpop_refresh(&session.refresh_token, Some(server.proof(&key, "POST", "/auth/refresh", None)));
    assert_eq!(owner.await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_out_without_the_key_ends_nothing() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let session = server.dpop_sign_in(&key).await;
    let thief = DpopKey::generate();
    for proof in [None, Some(server.proof(&thief, "POST", "/auth/logout", None))] {
        let answer = server.with_cookie("/auth/logout", &session.refresh_token, proof).await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT, "says nothing to a thief");
    }
    let proof = server.proof(&key, "GET", "/user", Some(&session.access_token));
    assert_eq!(server.dpop_get("/user", &session.access_token, Some(proof)).await.status(), StatusCode::OK);
    let proof = Some(server.proof(&key, "POST", "/auth/logout", None));
    assert_eq!(
        server.with_cookie("/auth/logout", &session.refresh_token, proof).await.status(),
        StatusCode::NO_CONTENT
    );
    let proof = server.proof(&key, "GET", "/user", Some(&session.access_token));
    assert_eq!(server.dpop_get("/user", &session.access_token, Some(proof)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sign_outs_proof_presented_again_is_refused_and_ends_nothing() {
    let server = TestServer::start(required()).await;
    // A client that keeps one key over two sign-ins (RFC 9449 allows it; this app makes a key per sign-in).
    let key = DpopKey::generate();
    let (first, second) = (server.dpop_sign_in(&key).await, server.dpop_sign_in(&key).await);
    let proof = Some(server.proof(&key, "POST", "/auth/logout", None));
    let first_use = server.with_cookie("/auth/logout", &first.refresh_token, proof.clone()).await;
    assert_eq!(first_use.status(), StatusCode::NO_CONTENT);
    // The same proof, copied off the wire, with the other session's cookie: each `jti` is accepted once.
    let (status, code, ..) = refusal(server.with_cookie("/auth/logout", &second.refresh_token, proof).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let proof = server.proof(&key, "GET", "/user", Some(&second.access_token));
    assert_eq!(server.dpop_get("/user", &second.access_token, Some(proof)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_outs_proof_is_remembered_only_for_the_bound_session_it_proves() {
    let server = TestServer::start(Settings { dpop: DpopMode::Allowed, ..Settings::default() }).await;
    // A Bearer session (a cookie someone planted, say) and the user's own session, bound to their key.
    let bearer = server.sign_in().await;
    let key = DpopKey::generate();
    let bound = server.dpop_sign_in(&key).await;
    let proof = Some(server.proof(&key, "POST", "/auth/logout", None));
    // The Bearer session's cookie ends it alone: the proof proves nothing of it and is not charged to it.
    let bearers = server.with_cookie("/auth/logout", &bearer.refresh_token, proof.clone()).await;
    assert_eq!(bearers.status(), StatusCode::NO_CONTENT);
    let first_use = server.with_cookie("/auth/logout", &bound.refresh_token, proof).await;
    assert_eq!(first_use.status(), StatusCode::NO_CONTENT, "first use for it");
    let proof = server.proof(&key, "GET", "/user", Some(&bound.access_token));
    assert_eq!(server.dpop_get("/user", &bound.access_token, Some(proof)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_whose_clock_is_off_is_asked_for_the_servers_nonce_and_passes_with_it() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let token = server.dpop_sign_in(&key).await.access_token;
    let an_hour_ago = server.clock.now() - 3_600;
    let stale = key.proof("GET", &server.url("/user"), an_hour_ago, Some(&token), None);
    let (status, code, challenge, nonce) = refusal(server.dpop_get("/user", &token, Some(stale)).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "use_dpop_nonce"));
    assert!(challenge.contains("use_dpop_nonce"), "{challenge}");
    let nonce = nonce.expect("the nonce to use");
    let with_nonce = key.proof("GET", &server.url("/user"), an_hour_ago, Some(&token), Some(&nonce));
    assert_eq!(server.dpop_get("/user", &token, Some(with_nonce)).await.status(), StatusCode::OK);
    // The sign-in and refresh ask the same way, with 400.
    let stale = key.proof("POST", &server.url("/auth/login"), an_hour_ago, None, None);
    let answer = server
        .post("/auth/login")
        .header("DPoP", stale)
        .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, code, _, nonce) = refusal(answer).await;
    assert_eq!((status, code.as_str(), nonce.is_some()), (StatusCode::BAD_REQUEST, "use_dpop_nonce", true));
}

#[tokio::test]
async fn each_mode_admits_what_it_says() {
    // required: no sign-in without a proof.
    let server = TestServer::start(required()).await;
    let (status, code) = error_code(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    // allowed: a client without WebCrypto signs in with Bearer tokens, and one with a key gets bound ones.
    let server = TestServer::start(Settings { dpop: DpopMode::Allowed, ..Settings::default() }).await;
    let bearer = server.sign_in().await;
    assert_eq!(server.user_status(&bearer.access_token).await, StatusCode::OK);
    assert!(claims_of(&bearer.access_token).get("cnf").is_none());
    let key = DpopKey::generate();
    let bound = server.dpop_sign_in(&key).await;
    let (status, _) = error_code(server.get("/user", &bound.access_token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a bound token is never accepted as Bearer");
    // off: proofs are ignored and every token is Bearer.
    let server = TestServer::start(Settings { dpop: DpopMode::Off, ..Settings::default() }).await;
    let answer = server
        .post("/auth/login")
        .header("DPoP", key.proof("POST", &server.url("/auth/login"), server.clock.now(), None, None))
        .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn a_proof_replayed_at_another_instance_is_refused_there_too() {
    // Two instances behind one public URL, as behind a load balancer: a proof names that URL, whichever answers.
    const PUBLIC: &str = "https://app.example";
    let settings = Settings { public_origin: SiteOrigin::parse(PUBLIC), ..required() };
    let a = TestServer::start(settings.clone()).await;
    assert!(a.database_url.is_some(), "{NEEDS_POSTGRES}");
    let b = Launch { database_url: a.database_url.clone(), clock: a.clock.clone(), ..Launch::new(settings) };
    let b = b.start().await;
    let key = DpopKey::generate();
    let now = a.clock.now();
    let answer = a
        .post("/auth/login")
        .header("DPoP", key.proof("POST", &format!("{PUBLIC}/auth/login"), now, None, None))
        .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let body: Value = answer.json().await.unwrap();
    let token = body["accessToken"].as_str().expect("signed in").to_owned();
    let proof = key.proof("GET", &format!("{PUBLIC}/user"), now, Some(&token), None);
    assert_eq!(a.dpop_get("/user", &token, Some(proof.clone())).await.status(), StatusCode::OK);
    let (status, code, _, _) = refusal(b.dpop_get("/user", &token, Some(proof)).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"), "B knows A saw it");
    let fresh = key.proof("GET", &format!("{PUBLIC}/user"), now, Some(&token), None);
    assert_eq!(b.dpop_get("/user", &token, Some(fresh)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_dpop_turned_off_a_session_bound_before_goes_on_as_bearer_and_signs_out() {
    let bound = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let session = bound.dpop_sign_in(&key).await;
    let off = Launch {
        data_dir: Some(bound.data_dir.clone()),
        database_url: bound.database_url.clone(),
        clock: bound.clock.clone(),
        ..Launch::new(Settings { dpop: DpopMode::Off, ..Settings::default() })
    }
    .start()
    .await;
    // The refresh needs no proof now, and the tokens are Bearer ones.
    let refreshed = off.dpop_refresh(&session.refresh_token, None).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let cookie = refresh_cookie(refreshed.headers()).expect("rotated");
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(off.user_status(body["accessToken"].as_str().unwrap()).await, StatusCode::OK);
    // And the sign-out ends it without a proof.
    assert_eq!(off.logout(&cookie).await.status(), StatusCode::NO_CONTENT);
    let (status, code) = error_code(off.refresh(&cookie).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "session_expired"));
}

/// A bound session rotated once: its first refresh token and the child it was rotated into.
async fn bound_and_rotated(server: &TestServer, key: &DpopKey) -> (String, String) {
    let session = server.dpop_sign_in(key).await;
    let first = server.dpop_refresh(&session.refresh_token, Some(server.proof(key, "POST", "/auth/refresh", None)));
    let child = refresh_cookie(first.await.headers()).expect("rotated");
    (session.refresh_token, child)
}

#[tokio::test]
async fn a_bound_sessions_rotation_whose_answer_was_lost_is_retried_with_its_keys_proof_for_a_minute() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let (parent, child) = bound_and_rotated(&server, &key).await;
    let proof = || Some(server.proof(&key, "POST", "/auth/refresh", None));

    // The answers never reached the browser, and the idle tab renews at its next check, 30 s on: with a proof of
    // the session's key the old cookie is its own client's retry, past the 10 s a Bearer session has.
    server.clock.advance(30);
    let retry = server.dpop_refresh(&parent, proof()).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(refresh_cookie(retry.headers()).as_deref(), Some(child.as_str()), "the same child");

    // Past the minute, even a proven parent is reuse: two holders of the cookie and the key are found out.
    server.clock.advance(31);
    let (status, code, _, _) = refusal(server.dpop_refresh(&parent, proof()).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "refresh_token_reused"));
}

#[tokio::test]
async fn a_bound_sessions_parent_is_reuse_once_its_child_is_used_whoever_proves_what() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let (parent, child) = bound_and_rotated(&server, &key).await;
    let proof = || Some(server.proof(&key, "POST", "/auth/refresh", None));
    assert_eq!(server.dpop_refresh(&child, proof()).await.status(), StatusCode::OK);
    let (status, code, _, _) = refusal(server.dpop_refresh(&parent, proof()).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "refresh_token_reused"));
}

#[tokio::test]
async fn a_proof_refused_after_the_right_password_is_no_failed_attempt() {
    let server = TestServer::start(required()).await;
    let key = DpopKey::generate();
    let proof = server.proof(&key, "POST", "/auth/login", None);
    let sign_in = |proof: String| {
        server
            .post("/auth/login")
            .header("DPoP", proof)
            .json(&json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
            .send()
    };
    assert_eq!(sign_in(proof.clone()).await.unwrap().status(), StatusCode::OK);
    // The same proof again, with the right password: refused as a replay, and never counted against the account.
    for _ in 0..8 {
        let (status, code, _, _) = refusal(sign_in(proof.clone()).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    }
    let fresh = server.proof(&key, "POST", "/auth/login", None);
    assert_eq!(sign_in(fresh).await.unwrap().status(), StatusCode::OK, "no backoff from the replays");
}
