//! The races and faults of a real session, in headless Chromium against the real server, with the network
//! between them played by a fault-injecting proxy.

use std::time::Duration;

use e2e::{Browser, Fault, FaultProxy, POLL, TestServer, refresh_from_outside};
use session_contract::paths;
use session_server::testing::wait_until;
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, DpopMode, NewUser, Settings, add_user};

/// An access token the client renews two seconds after it was issued: up to 30 renewals a minute, so the
/// per-session limit (12 a minute, far above what 15-minute tokens need) is raised to match.
fn short_access() -> Settings {
    Settings { access_token_ttl: 2, session_refresh_limit: 60, ..Settings::default() }
}
const PAST_THE_ACCESS_TOKEN: Duration = Duration::from_secs(3);

async fn counter(server: &TestServer, outcome: &str) -> u64 {
    server.counter(&format!("session_refreshes_total{{outcome=\"{outcome}\"}}")).await
}

/// No notice that the session ended, for whatever reason (expired, or used from another device).
async fn no_expiry_notice(browser: &Browser) {
    let banners = browser.client.find_all(fantoccini::Locator::Css("[role=alert] .banner")).await.expect("a query");
    if let Some(banner) = banners.first() {
        panic!("a false notice that the session ended: {}", banner.text().await.unwrap_or_default());
    }
}

#[tokio::test]
async fn a_lost_refresh_answer_does_not_sign_the_user_out() {
    let server = TestServer::start(short_access()).await;
    let proxy = FaultProxy::start(&server.base_url).await;
    let browser = Browser::launch().await;
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    // The server rotates; the answer is withheld for 20 s, then the connection closes.
    proxy.on_next_refresh(Fault::LoseTheAnswer(Duration::from_secs(20)));
    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    browser.click_button("Refresh").await;
    wait_until(Duration::from_secs(10), POLL, async || counter(&server, "grace").await > 0).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/user", "still signed in");
    assert_eq!(proxy.refreshes(), 2, "the lost refresh and its retry");
    assert_eq!(counter(&server, "rotated").await, 1);
    assert_eq!(counter(&server, "grace").await, 1, "the retry got the same child");
    assert_eq!(counter(&server, "reused").await + counter(&server, "expired").await, 0, "no 403 at all");
    browser.close().await;
}

#[tokio::test]
async fn an_idle_tabs_refresh_answered_too_late_twice_is_no_theft_at_its_next_renewal() {
    let server = TestServer::start(short_access()).await;
    let proxy = FaultProxy::start(&server.base_url).await;
    let browser = Browser::launch().await;
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    // A server under load: it rotates at once, but the answer and the retry's (the same child) take 6 s, past
    // the client's 4 s, so the browser drops both and keeps the old cookie. Nobody uses the page: the tab renews
    // on its own, on its 30 s check.
    let (rotated, grace) = (counter(&server, "rotated").await, counter(&server, "grace").await);
    proxy.on_next_refresh(Fault::DelayTheAnswer(Duration::from_secs(6)));
    proxy.on_next_refresh(Fault::DelayTheAnswer(Duration::from_secs(6)));
    let met = wait_until(Duration::from_secs(45), POLL, async || proxy.armed() == 0).await;
    assert!(met.is_some(), "the tab's check renewed, and retried once");
    let (faulted, retried_at) = (proxy.refreshes(), tokio::time::Instant::now());
    // The server is fast again. The tab's next renewal, 30 s after the first rotation (well past a 10 s window),
    // carries the old cookie, whose child nobody has used: the lost answers' retry, not a thief's.
    let next = wait_until(Duration::from_secs(45), POLL, async || proxy.refreshes() > faulted).await;
    assert!(next.is_some(), "the next check renewed");
    assert!(retried_at.elapsed() > Duration::from_secs(15), "the next renewal came {:?} after", retried_at.elapsed());
    let settled = wait_until(Duration::from_secs(5), POLL, async || {
        counter(&server, "grace").await + counter(&server, "reused").await >= grace + 2
    });
    assert!(settled.await.is_some(), "the next renewal was answered");
    assert_eq!(counter(&server, "reused").await + counter(&server, "expired").await, 0, "a slow answer is no theft");
    assert_eq!(counter(&server, "grace").await - grace, 2, "the retry and the next renewal got the same child");
    assert!(counter(&server, "rotated").await > rotated, "the first faulted refresh rotated");
    browser.click_button("Refresh").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    no_expiry_notice(&browser).await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/user", "still signed in");
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    browser.close().await;
}

#[tokio::test]
async fn back_to_sign_in_and_signing_in_as_someone_else_shows_only_their_data() {
    let server = TestServer::start(Settings::default()).await;
    add_user(&server.app.store, ADA, server.app.now()).await.expect("a second account");
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");

    browser.client.back().await.expect("Back");
    browser.wait_for_path("/login").await;
    assert_eq!(browser.text_of("[data-testid=signed-in-as]").await, "You are signed in as Demo User.");
    browser.click_button("Sign out first").await;
    browser.type_into("#username", "ada").await;
    browser.type_into("#password", "analytical-engine-1843").await;
    browser.wait_for("button[type=submit]").await.click().await.expect("submitted");
    browser.wait_for_path("/user").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Ada Lovelace");
    browser.close().await;
}

/// Signs out while a refresh is held by the proxy, then lets it go on: the page shows the sign-in form at once,
/// and the logout waits for the refresh (one change of session at a time), so it revokes what the refresh
/// rotated.
async fn sign_out_during_a_refresh(fault: Fault) -> (TestServer, Browser) {
    let server = TestServer::start(short_access()).await;
    let proxy = FaultProxy::start(&server.base_url).await;
    let browser = Browser::launch().await;
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.wait_for("[data-testid=display-name]").await;

    proxy.on_next_refresh(fault);
    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    browser.click_button("Refresh").await;
    wait_until(Duration::from_secs(10), POLL, async || proxy.refreshes() > 0).await;
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.requests_to(paths::LOGOUT), 0, "the logout waits for the refresh in flight");
    proxy.release();
    wait_until(Duration::from_secs(10), POLL, async || proxy.requests_to(paths::LOGOUT) > 0).await;

    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/login");
    assert_eq!(browser.stored_access_token().await, None, "no token came back");
    no_expiry_notice(&browser).await;

    // The refresh ran to its end although its page was gone: the cross-tab lock it held is free, so the
    // next session's refresh does not wait for the lock's 20 s timeout.
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.wait_for("[data-testid=display-name]").await;
    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    let rotations = counter(&server, "rotated").await;
    browser.click_button("Refresh").await;
    let waited =
        wait_until(Duration::from_secs(25), POLL, async || counter(&server, "rotated").await != rotations).await;
    assert!(
        waited.is_some_and(|waited| waited < Duration::from_secs(5)),
        "the next refresh waited {waited:?} (None: over 25 s) for a lock nobody released"
    );
    (server, browser)
}

#[tokio::test]
async fn a_refresh_held_before_the_server_during_the_sign_out_brings_nothing_back() {
    let (server, browser) = sign_out_during_a_refresh(Fault::HoldTheRequest).await;
    assert_eq!(counter(&server, "rotated").await, 2, "the held rotation, and the next session's");
    assert_eq!(counter(&server, "expired").await + counter(&server, "reused").await, 0, "nothing refused");
    browser.close().await;
}

#[tokio::test]
async fn a_rotated_answer_arriving_after_the_sign_out_brings_nothing_back() {
    let (server, browser) = sign_out_during_a_refresh(Fault::HoldTheAnswer).await;
    assert_eq!(counter(&server, "rotated").await, 2, "the held rotation, and the next session's");
    browser.close().await;
}

/// Signs out, and at once signs in as Ada, while the next answer to `held_path` is delayed by `delay` (for
/// the refresh: one started just before the sign-out). Ada's profile loads, survives her first refresh, and no
/// refresh is refused: no late `Set-Cookie` of the old session lands after hers.
async fn sign_in_as_someone_else_right_after_signing_out(held_path: &str, delay: Duration) {
    let server = TestServer::start(short_access()).await;
    add_user(&server.app.store, ADA, server.app.now()).await.expect("a second account");
    let proxy = FaultProxy::start(&server.base_url).await;
    let browser = Browser::launch().await;
    browser.sign_in(&proxy.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.wait_for("[data-testid=display-name]").await;

    proxy.on_next(held_path, Fault::DelayTheAnswer(delay));
    if held_path == paths::REFRESH {
        tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
        browser.click_button("Refresh").await;
        wait_until(Duration::from_secs(10), POLL, async || proxy.refreshes() > 0).await;
    }
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    browser.type_into("#username", ADA.username).await;
    browser.type_into("#password", ADA.password).await;
    browser.wait_for("button[type=submit]").await.click().await.expect("submitted");
    browser.wait_for_path("/user").await;
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Ada Lovelace");

    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    let rotations = counter(&server, "rotated").await;
    browser.click_button("Refresh").await;
    wait_until(Duration::from_secs(10), POLL, async || counter(&server, "rotated").await > rotations).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user", "Ada is still signed in");
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Ada Lovelace");
    assert_eq!(counter(&server, "expired").await + counter(&server, "reused").await, 0, "no refresh refused");
    no_expiry_notice(&browser).await;
    browser.close().await;
}

const ADA: NewUser<'static> = NewUser {
    username: "ada",
    password: "analytical-engine-1843",
    display_name: "Ada Lovelace",
    email: "ada@example.com",
};

#[tokio::test]
async fn signing_in_as_someone_else_while_the_old_refresh_is_held_keeps_the_new_session() {
    sign_in_as_someone_else_right_after_signing_out(paths::REFRESH, Duration::from_secs(4)).await;
}

#[tokio::test]
async fn signing_in_as_someone_else_while_the_logouts_answer_is_held_keeps_the_new_session() {
    sign_in_as_someone_else_right_after_signing_out(paths::LOGOUT, Duration::from_millis(2_500)).await;
}

/// Without DPoP (a server started with `--dpop off`, or a browser without WebCrypto: Bearer sessions), reuse
/// detection is the defence: the thief's copy of the cookie was already rotated, the server revokes the session
/// for reuse, and the next refresh of the real user is answered `refresh_token_reused`, which the notice names.
/// (A bound session refuses the copy outright: `device_bound.rs`.)
#[tokio::test]
async fn an_old_refresh_cookie_replayed_from_outside_ends_a_bearer_session_with_the_notice() {
    let server = TestServer::start(Settings { refresh_grace: 0, dpop: DpopMode::Off, ..short_access() }).await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    let stolen = browser.refresh_cookie(&server, "/user").await.expect("a refresh cookie").value().to_owned();
    browser.wait_for("[data-testid=display-name]").await;

    tokio::time::sleep(PAST_THE_ACCESS_TOKEN).await;
    browser.click_button("Refresh").await;
    wait_until(Duration::from_secs(10), POLL, async || counter(&server, "rotated").await > 0).await;
    // The page's own refresh has ended (its replays too) before the thief acts: otherwise a replay refused by the
    // revocation refreshes again, meets the reuse and leaves for /login before the click below.
    browser.wait_for(".actions button[aria-busy='false']").await;
    assert!(refresh_from_outside(&server, &stolen).await.contains("403"), "reuse is refused");
    assert_eq!(counter(&server, "reused").await, 1);

    browser.click_button("Refresh").await;
    browser.wait_for_path("/login").await;
    let notice = browser.text_of("[role=alert] .banner").await;
    assert!(notice.contains("Your session was ended because it was used from another device."), "{notice}");
    browser.close().await;
}

#[tokio::test]
async fn offline_across_the_expiry_with_reloads_the_data_returns_by_itself_once_online() {
    let server = TestServer::start(short_access()).await;
    let browser = Browser::launch().await;
    browser.sign_in(&server.base_url, DEMO_USERNAME, DEMO_PASSWORD).await;
    browser.wait_for("[data-testid=display-name]").await;

    browser.set_offline(true).await;
    browser.wait_for(".banner.offline").await;
    // Past the access token and the server's 5 s leeway: only a refresh brings the data back.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Offline, a refresh waits for the network instead of failing: no request, no error, the banner says why.
    for _ in 0..4 {
        browser.click_button("Refresh").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let notices = browser.client.find_all(fantoccini::Locator::Css("[role=alert] .notice")).await.expect("a query");
    assert!(notices.is_empty(), "an error notice while offline");
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User", "the data stays on screen");
    assert_eq!(counter(&server, "rotated").await, 0, "nothing reached the server");

    // Back online, the paused fetch runs by itself: one refresh, and fresh data under the same name.
    browser.set_offline(false).await;
    wait_until(Duration::from_secs(5), POLL, async || counter(&server, "rotated").await > 0).await;
    assert_eq!(counter(&server, "rotated").await, 1, "not one refresh within 5 s of coming back");
    assert_eq!(browser.text_of("[data-testid=display-name]").await, "Demo User");
    assert_eq!(browser.client.current_url().await.expect("a URL").path(), "/user", "still signed in");
    browser.close().await;
}
