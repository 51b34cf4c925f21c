//! Tokens bound to the browser's key (DPoP, RFC 9449) in a real browser against the real server: what a thief
//! copies out of the browser is worthless elsewhere, and the user's tab goes on; a browser whose clock is an
//! hour off the server's signs in and works through the server's nonce.

use std::sync::Arc;
use std::time::Duration;

use e2e::{Browser, Fault, FaultProxy, POLL, TestServer, claims_of, refresh_from_outside};
use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE, DPOP_HEADER, DPOP_SCHEME, paths};
use session_server::testing::{DpopKey, wait_until};
use session_server::{Clock, DEMO_PASSWORD, DEMO_USERNAME, DpopMode, Settings, SystemClock};

/// Long enough that the page reloads the cookie check makes (`refresh_cookie` visits `/auth/`) do not need a
/// refresh; short enough to wait out.
const ACCESS_TTL: i64 = 6;
const PAST_THE_ACCESS_TOKEN: Duration = Duration::from_secs(ACCESS_TTL as u64 + 1);

fn short_access() -> Settings {
    Settings {
        access_token_ttl: ACCESS_TTL,
        session_refresh_limit: 60,
        dpop: DpopMode::Required,
        ..Settings::default()
    }
}

const ROTATED: &str = "session_refreshes_total{outcome=\"rotated\"}";
const INVALID_PROOF: &str = "session_refreshes_total{outcome=\"invalid_proof\"}";

/// Whether IndexedDB holds the device's key (what any script of the page could look up; the key itself stays
/// unexportable).
async fn a_key_is_stored(browser: &Browser) -> Option<bool> {
    let script = "const done = arguments[arguments.length - 1];
        const opening = indexedDB.open('session-device-key');
        opening.onerror = () => done(null);
        opening.onsuccess = () => {
            const database = opening.result;
            if (!database.objectStoreNames.contains('keys')) { database.close(); return done(false); }
            const reading = database.transaction('keys').objectStore('keys').get('device');
            reading.onerror = () => done(null);
            reading.onsuccess = () => { database.close(); done(reading.result !== undefined); };
        };";
    browser.client.execute_async(script, vec![]).await.expect("the script ran").as_bool()
}

/// `method path` at `base_url` from the test's own client, with the token as `scheme` and `proof` if any: the
/// answer's status and error code (`401 Unauthorized invalid_dpop_proof`), and its message.
async fn from_outside(
    base_url: &str,
    (method, path): (&str, &str),
    (scheme, token): (&str, &str),
    proof: Option<&str>,
) -> (String, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = reqwest::Client::new()
        .request(method, format!("{base_url}{path}"))
        .header("authorization", format!("{scheme} {token}"))
        .header(CSRF_HEADER, CSRF_HEADER_VALUE);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    let answer = request.send().await.expect("the server answers");
    let status = answer.status();
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or_default();
    let code = body["error"].as_str().unwrap_or_default();
    (format!("{status} {code}").trim_end().to_owned(), body["message"].as_str().unwrap_or_default().to_owned())
}

/// `GET /user` from the test's own client: the answer's status and error code.
async fn user_from_outside(server: &TestServer, scheme: &str, token: &str, proof: Option<String>) -> String {
    from_outside(&server.base_url, ("GET", paths::USER), (scheme, token), proof.as_deref()).await.0
}

/// A session of the thief's own, bound to `key`: its access token.
async fn sign_in_elsewhere(base_url: &str, key: &DpopKey) -> String {
    let url = format!("{base_url}{}", paths::LOGIN);
    let credentials = serde_json::json!({ "username": DEMO_USERNAME, "password": DEMO_PASSWORD });
    let answer = reqwest::Client::new()
        .post(&url)
        .header(CSRF_HEADER, CSRF_HEADER_VALUE)
        .header("content-type", "application/json")
        .header("dpop", key.proof("POST", &url, SystemClock.now(), None, None))
        .body(credentials.to_string())
        .send()
        .await
        .expect("the server answers");
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.expect("a body")).expect("JSON");
    body["accessToken"].as_str().expect("an access token").to_owned()
}

#[tokio::test]
async fn what_a_thief_copies_out_of_the_browser_is_refused_and_the_user_stays_signed_in() {
    let server = TestServer::start(short_access()).await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    let (token, bound) = browser.stored_token().await.expect("a stored token");
    assert!(bound, "the session is bound to this browser's key");
    let cookie = browser.refresh_cookie(&server, "/user").await.expect("the refresh cookie").value().to_owned();
    browser.wait_for("[data-testid=display-name]").await;

    // The token, from elsewhere: as Bearer, as DPoP without a proof, and with a proof of the thief's own key.
    let thief = DpopKey::generate();
    let url = format!("{}{}", server.base_url, paths::USER);
    let own_proof = thief.proof("GET", &url, SystemClock.now(), Some(&token), None);
    for (scheme, proof, refused) in [
        ("Bearer", None, "401 Unauthorized invalid_token"),
        ("DPoP", None, "401 Unauthorized invalid_dpop_proof"),
        ("DPoP", Some(own_proof), "401 Unauthorized invalid_dpop_proof"),
    ] {
        assert_eq!(user_from_outside(&server, scheme, &token, proof).await, refused, "{scheme}");
    }
    // The cookie, from elsewhere: refused, and nothing rotated or revoked.
    let rotated_before = server.counter(ROTATED).await;
    assert_eq!(refresh_from_outside(&server, &cookie).await, "400 Bad Request invalid_dpop_proof");
    assert_eq!(server.counter(INVALID_PROOF).await, 1, "counted as a refused proof");
    assert_eq!(server.counter(ROTATED).await, rotated_before, "nothing rotated");

    // The user's tab renews past the access token's life and goes on.
    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    browser.click_button("Refresh").await;
    let renewed =
        wait_until(Duration::from_secs(10), POLL, async || server.counter(ROTATED).await > rotated_before).await;
    assert!(renewed.is_some(), "the tab refreshed with its key");
    browser.wait_for(".actions button[aria-busy='false']").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(server.counter("session_refreshes_total{outcome=\"reused\"}").await, 0, "the thief ended nothing");
    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user");

    // Signing out forgets the key (once the server heard the sign-out); the next sign-in binds the new session
    // to another one.
    assert_eq!(a_key_is_stored(&browser).await, Some(true));
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    let forgotten = wait_until(Duration::from_secs(10), POLL, async || a_key_is_stored(&browser).await == Some(false));
    assert!(forgotten.await.is_some(), "the key is gone from IndexedDB after the sign-out");
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    let (next_token, _) = browser.stored_token().await.expect("a stored token");
    let (jkt, next_jkt) = (&claims_of(&token)["cnf"]["jkt"], &claims_of(&next_token)["cnf"]["jkt"]);
    assert!(jkt.is_string() && next_jkt.is_string(), "both tokens bound: {jkt} {next_jkt}");
    assert_ne!(next_jkt, jkt, "a new key for the new session");
    browser.close().await;
}

/// The proof of a real request, copied on its way (the proxy holds the request before the server sees it): at
/// another URL, with another method, or beside another token it is refused, each for that reason; as it was
/// made it is accepted once, and never again. The browser's own request, arriving after it, is refused as a
/// replay; the tab renews with its key and goes on.
#[tokio::test]
async fn a_proof_copied_from_the_browsers_request_works_once_and_nowhere_else() {
    let server = TestServer::start(Settings { dpop: DpopMode::Required, ..Settings::default() }).await;
    let proxy = FaultProxy::start(&server.base_url).await;
    let browser = Browser::launch().await;
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    browser.wait_for(".actions button[aria-busy='false']").await;

    // The thief's own session first: the browser abandons a request after 15 s, and the hold below must stay
    // well inside that.
    let thiefs_own_token = sign_in_elsewhere(&proxy.base_url, &DpopKey::generate()).await;
    proxy.on_next(paths::USER, Fault::HoldTheRequest);
    let sent_before = proxy.requests_to(paths::USER);
    browser.click_button("Refresh").await;
    let held = wait_until(Duration::from_secs(10), POLL, async || proxy.requests_to(paths::USER) > sent_before);
    assert!(held.await.is_some(), "the browser asked for the user");
    let copied = proxy.last_request_to(paths::USER).expect("the held request");
    assert_eq!(copied.method, "GET");
    let proof = copied.header(DPOP_HEADER).expect("the browser's proof").to_owned();
    let token = copied.header("authorization").and_then(|value| value.strip_prefix(DPOP_SCHEME)).expect("DPoP");
    let token = token.trim_start();
    let session = claims_of(token)["sid"].as_str().expect("a session id").to_owned();

    // Each refusal names the first check that failed (server/src/auth/dpop.rs checks htm before htu, and ath
    // before the key is compared with the token's), so: the URL alone changed; the method (and the URL) of a
    // DELETE; the token, for one of the thief's own (bound to another key, refused for its hash first).
    let base = proxy.base_url.as_str();
    let this_session = paths::user_session(&session);
    for (request, token, reason) in [
        (("GET", paths::USER_SESSIONS), token, "the proof is for another URL"),
        (("DELETE", this_session.as_str()), token, "the proof is for another method"),
        (("GET", paths::USER), thiefs_own_token.as_str(), "the proof's ath is not the presented access token's hash"),
    ] {
        let (status, message) = from_outside(base, request, ("DPoP", token), Some(&proof)).await;
        assert_eq!(status, "401 Unauthorized invalid_dpop_proof", "{request:?}");
        assert!(message.contains(reason), "{request:?}: {message}");
    }
    let as_made = from_outside(base, ("GET", paths::USER), ("DPoP", token), Some(&proof)).await;
    assert_eq!(as_made.0, "200 OK", "the copy is good until its first use: the refusals above were for their reasons");
    let (status, message) = from_outside(base, ("GET", paths::USER), ("DPoP", token), Some(&proof)).await;
    assert_eq!(status, "401 Unauthorized invalid_dpop_proof");
    assert!(message.contains("the proof was presented before"), "{message}");

    // The browser's own request comes second: a replay, refused; the tab renews and asks again.
    let rotated_before = server.counter(ROTATED).await;
    proxy.release();
    let renewed =
        wait_until(Duration::from_secs(10), POLL, async || server.counter(ROTATED).await > rotated_before).await;
    assert!(renewed.is_some(), "the refused request made the tab renew");
    browser.wait_for(".actions button[aria-busy='false']").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user", "still signed in");
    assert_eq!(server.counter("session_refreshes_total{outcome=\"reused\"}").await, 0);
    browser.close().await;
}

/// A server whose clock is an hour ahead of the browser's: every proof's `iat` is out of its window, so the first
/// is answered `use_dpop_nonce`, and the app sends it again with the nonce, and goes on with it.
#[tokio::test]
async fn a_browser_an_hour_off_the_servers_clock_signs_in_and_works_through_the_nonce() {
    struct AnHourAhead;
    impl Clock for AnHourAhead {
        fn now(&self) -> i64 {
            SystemClock.now() + 3_600
        }
    }
    let server = TestServer::start_on(short_access(), Arc::new(AnHourAhead)).await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    browser.click_button("Refresh").await;
    let renewed = wait_until(Duration::from_secs(10), POLL, async || server.counter(ROTATED).await > 0).await;
    assert!(renewed.is_some(), "a refresh with the nonce");
    browser.wait_for(".actions button[aria-busy='false']").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user", "nobody was signed out");
    browser.close().await;
}
