//! Sessions and refresh: rotation, reuse detection, grace window, lifetimes, revocation.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use session_server::{Clock, NewSession, RECHECK_SECONDS, Settings, set_password};
use sqlx::Row;

use crate::support::{Launch, TestServer, error_code, refresh_cookie, sha256};

const REUSED: (StatusCode, &str) = (StatusCode::FORBIDDEN, "refresh_token_reused");
const EXPIRED: (StatusCode, &str) = (StatusCode::FORBIDDEN, "session_expired");

fn expect(actual: (StatusCode, String), expected: (StatusCode, &str)) {
    assert_eq!((actual.0, actual.1.as_str()), expected);
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_sha256_and_never_in_plaintext() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let child = server.rotate(&session.refresh_token).await;
    let grandchild = server.rotate(&child).await;

    let database = server.database_bytes().await;
    let pool = server.database().await;
    for token in [&session.refresh_token, &child, &grandchild] {
        assert!(!contains(&database, token.as_bytes()), "plaintext {token} is on disk");
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE hash = $1")
            .bind(sha256(token))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, 1);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test]
async fn rotation_issues_a_child_in_the_same_session_that_records_its_parent() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let child = server.rotate(&session.refresh_token).await;
    let pool = server.database().await;
    let lineage = |token: String| {
        let pool = pool.clone();
        async move {
            let row = sqlx::query("SELECT session_id, parent_hash FROM refresh_tokens WHERE hash = $1")
                .bind(sha256(&token))
                .fetch_one(&pool)
                .await
                .unwrap();
            (row.get::<String, _>("session_id"), row.get::<Option<Vec<u8>>, _>("parent_hash"))
        }
    };
    let (parent_session, grandparent) = lineage(session.refresh_token.clone()).await;
    let (child_session, parent) = lineage(child).await;
    assert_eq!(child_session, parent_session);
    assert_eq!(parent, Some(sha256(&session.refresh_token)));
    assert_eq!(grandparent, None);
}

#[tokio::test]
async fn the_grace_window_covers_only_the_immediate_parent_of_the_newest_token() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let child = server.rotate(&session.refresh_token).await;
    let grandchild = server.rotate(&child).await;

    let retry = server.refresh(&child).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(refresh_cookie(retry.headers()).unwrap(), grandchild, "the same child, not a new one");
    expect(error_code(server.refresh(&session.refresh_token).await).await, REUSED);
    expect(error_code(server.refresh(&grandchild).await).await, REUSED);
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_both_succeed_and_leave_one_live_child() {
    let server = TestServer::start(Settings::default()).await;
    let mut newest = server.sign_in().await.refresh_token;
    for run in 0..50 {
        // Within the per-minute rotation limit.
        server.clock.advance(6);
        let (first, second) = tokio::join!(server.refresh(&newest), server.refresh(&newest));
        assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK), "run {run}");
        let child = refresh_cookie(first.headers()).unwrap();
        assert_eq!(refresh_cookie(second.headers()).unwrap(), child, "run {run}: one child for both");
        newest = child;
    }
    let pool = server.database().await;
    let live: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn with_the_grace_window_off_exactly_one_of_twenty_concurrent_refreshes_succeeds() {
    let server = TestServer::start(Settings { refresh_grace: 0, ..Settings::default() }).await;
    let token = server.sign_in().await.refresh_token;
    let responses = join_all((0..20).map(|_| server.refresh(&token))).await;
    let succeeded = responses.iter().filter(|response| response.status() == StatusCode::OK).count();
    assert_eq!(succeeded, 1);
    for response in responses.into_iter().filter(|response| response.status() != StatusCode::OK) {
        expect(error_code(response).await, REUSED);
    }
}

#[tokio::test]
async fn rotation_never_extends_the_absolute_session_lifetime() {
    let server = TestServer::start(Settings { session_ttl: 300, ..Settings::default() }).await;
    let mut newest = server.sign_in().await.refresh_token;
    for _ in 0..5 {
        server.clock.advance(59);
        let response = server.refresh(&newest).await;
        assert_eq!(response.status(), StatusCode::OK);
        newest = refresh_cookie(response.headers()).unwrap();
    }
    server.clock.advance(6);
    expect(error_code(server.refresh(&newest).await).await, EXPIRED);
}

#[tokio::test]
async fn an_idle_session_expires_and_is_not_counted_as_reuse() {
    let server = TestServer::start(Settings { idle_timeout: 100, ..Settings::default() }).await;
    let session = server.sign_in().await;
    server.clock.advance(101);
    expect(error_code(server.refresh(&session.refresh_token).await).await, EXPIRED);
    expect(error_code(server.refresh(&session.refresh_token).await).await, EXPIRED);
}

#[tokio::test]
async fn a_password_change_revokes_every_session_of_the_user() {
    let server = TestServer::start(Settings::default()).await;
    server.hearing_revocations().await;
    let laptop = server.sign_in().await;
    let phone = server.sign_in().await;
    assert_eq!(server.user_status(&laptop.access_token).await, StatusCode::OK);
    // As the `user set-password` command does it: from outside the serving process, seen within a recheck.
    set_password(&server.app.store, "demo", "a brand new password", 0).await.unwrap();
    // Seen at the next recheck (SQLite) or when the announcement is heard, moments later (PostgreSQL): the access
    // tokens are asked first, so no refresh of this instance's own can be what made them refused.
    server.clock.advance(RECHECK_SECONDS);
    for device in [&laptop, &phone] {
        let refused = server.refused_within(&device.access_token, Duration::from_secs(1)).await;
        assert!(refused.is_some(), "an access token of a revoked session is still accepted after a second");
    }
    for device in [&laptop, &phone] {
        expect(error_code(server.refresh(&device.refresh_token).await).await, EXPIRED);
    }
    let fresh = server.login_as("demo", "a brand new password").await.json::<Value>().await.unwrap();
    assert!(fresh["accessToken"].is_string());
}

#[tokio::test]
async fn a_refresh_answered_session_expired_leaves_no_access_token_of_that_session_accepted() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    // Remembered as live for a recheck (on PostgreSQL, while revocations are heard, for a minute).
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::OK);
    // Ended from outside this process, and read as ended by this instance's own refresh: the clock never moves,
    // so on SQLite nothing but that refresh can have made this instance forget the session (on PostgreSQL the
    // announcement may get there first).
    set_password(&server.app.store, "demo", "a brand new password", 0).await.unwrap();
    expect(error_code(server.refresh(&session.refresh_token).await).await, EXPIRED);
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unknown_session_id_is_not_found_whatever_its_bytes() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    // PostgreSQL refuses a NUL byte in text: never asked, it cannot fail.
    for id in ["no-such-session", "%00", "00000000-0000-4000-8000-000000000000", "%C3%A9t%C3%A9"] {
        let response = server
            .http
            .delete(format!("{}/user/sessions/{id}", server.base))
            .bearer_auth(&session.access_token)
            .header("X-Requested-With", "fetch")
            .send()
            .await
            .unwrap();
        expect(error_code(response).await, (StatusCode::NOT_FOUND, "not_found"));
    }
}

#[tokio::test]
async fn reuse_in_the_same_second_with_grace_off_revokes_a_cached_session_at_once() {
    let server = TestServer::start(Settings { refresh_grace: 0, ..Settings::default() }).await;
    let session = server.sign_in().await;
    // The session is now in the live cache, which is rechecked only after a second the clock never reaches.
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::OK);
    let _child = server.rotate(&session.refresh_token).await;
    expect(error_code(server.refresh(&session.refresh_token).await).await, REUSED);
    assert_eq!(server.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_idle_session_refuses_its_access_token_and_leaves_the_sessions_list() {
    let settings = Settings { idle_timeout: 100, access_token_ttl: 900, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let idle = server.sign_in().await;
    assert_eq!(server.user_status(&idle.access_token).await, StatusCode::OK);
    server.clock.advance(60);
    let active = server.sign_in().await;
    server.clock.advance(41);
    // 101 s without a refresh: idle, although its access token has 799 s left.
    assert_eq!(server.user_status(&idle.access_token).await, StatusCode::UNAUTHORIZED);
    let listed: Vec<Value> =
        server.get("/user/sessions", &active.access_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["current"], true);
}

#[tokio::test]
async fn a_grace_retry_whose_seal_no_longer_opens_is_refused_not_given_a_garbage_cookie() {
    let first = TestServer::start(Settings::default()).await;
    let session = first.sign_in().await;
    let _child = first.rotate(&session.refresh_token).await;
    // The operator changes the signing secret (on PostgreSQL forcing it, past the recorded fingerprint, without
    // naming the previous one); the retry arrives inside the grace window.
    if first.database_url.is_some() {
        sqlx::query("DELETE FROM server_settings").execute(&first.database().await).await.unwrap();
    }
    let restarted = Launch {
        secret: "another signing secret, also long enough",
        data_dir: Some(first.data_dir.clone()),
        database_url: first.database_url.clone(),
        clock: first.clock.clone(),
        ..Launch::new(Settings::default())
    }
    .start()
    .await;
    let retry = restarted.refresh(&session.refresh_token).await;
    assert_eq!(refresh_cookie(retry.headers()), None, "a cookie was set");
    expect(error_code(retry).await, EXPIRED);
}

#[tokio::test]
async fn the_sweep_deletes_ended_sessions_and_their_tokens() {
    let server = TestServer::start(Settings { session_ttl: 7200, ..Settings::default() }).await;
    let expiring = server.sign_in().await;
    let _ = server.rotate(&expiring.refresh_token).await;
    server.clock.advance(7200);
    let signed_out = server.sign_in().await;
    server.logout(&signed_out.refresh_token).await;
    let live = server.sign_in().await;
    let database = server.database().await;
    let count = |table: &'static str| {
        let database = database.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&database).await.unwrap()
        }
    };
    assert_eq!((count("sessions").await, count("refresh_tokens").await), (3, 4));

    // The expired session goes at once; the revoked one is kept an hour, so reuse still reads as reuse meanwhile.
    assert_eq!(server.app.sweep().await.unwrap(), 1);
    assert_eq!((count("sessions").await, count("refresh_tokens").await), (2, 2));
    server.clock.advance(3601);
    assert_eq!(server.app.sweep().await.unwrap(), 1);
    assert_eq!((count("sessions").await, count("refresh_tokens").await), (1, 1));
    assert_eq!(server.refresh(&live.refresh_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_looping_refreshes_is_limited_per_minute_and_keeps_its_cookie() {
    let server = TestServer::start(Settings::default()).await;
    let looping = server.sign_in().await;
    let other = server.sign_in().await;
    let limit = server.app.settings.session_refresh_limit;
    // The sign-in counts as one of the minute's tokens.
    let mut token = looping.refresh_token.clone();
    for _ in 1..limit {
        token = server.rotate(&token).await;
    }
    server.clock.advance(20);
    let refused = server.refresh(&token).await;
    assert_eq!(refused.headers()["retry-after"], "40", "until the minute's first token leaves the window");
    assert!(!refused.headers().contains_key("set-cookie"), "the cookie is kept");
    assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()));
    // Another session is not held back; the looping one rotates once the window has passed.
    let _ = server.rotate(&other.refresh_token).await;
    server.clock.advance(40);
    let _ = server.rotate(&token).await;
}

#[tokio::test]
async fn a_session_rotating_past_what_its_life_needs_is_revoked_and_its_chain_stays_bounded() {
    // Ten-minute sessions of one-minute tokens: 32 rotations allowed (twice the eleven needed, and ten).
    let settings = Settings { session_ttl: 600, access_token_ttl: 60, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let session = server.sign_in().await;
    let mut tokens = vec![session.refresh_token.clone()];
    for _ in 0..32 {
        // Within the per-minute limit, and within the session's ten minutes.
        server.clock.advance(5);
        let next = server.rotate(tokens.last().unwrap()).await;
        tokens.push(next);
    }
    server.clock.advance(5);
    expect(error_code(server.refresh(tokens.last().unwrap()).await).await, EXPIRED);
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens").fetch_one(&server.database().await).await.unwrap();
    assert_eq!(stored, 33, "the sign-in's token and one per rotation");
    let reason: String =
        sqlx::query_scalar("SELECT revoke_reason FROM sessions").fetch_one(&server.database().await).await.unwrap();
    assert_eq!(reason, "rotation_limit");
    // Every token of the chain is still known, none was pruned: an old one presented now reads as revoked.
    expect(error_code(server.refresh(&tokens[0]).await).await, EXPIRED);
}

/// 500 sessions of the demo account signed in before (with the password, from anywhere: 30 a minute per
/// address), the `n`th last used `used_at(n)` seconds from now, its id ordered by `n`.
async fn five_hundred_sessions(server: &TestServer, used_at: impl Fn(i64) -> i64) {
    let user = server.app.store.user_by_username("demo").await.unwrap().unwrap();
    let now = server.clock.now();
    for index in 0..500_i64 {
        let id = format!("00000000-0000-4000-8000-{index:012}");
        let hash = sha256(&id);
        let session = NewSession {
            session_id: &id,
            user_id: user.id,
            checked_hash: &user.password_hash,
            user_agent: "a script",
            token_hash: &hash,
            now: now + used_at(index),
            expires_at: now + 1_000_000,
            jkt: None,
        };
        assert!(server.app.store.create_session(&session).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn an_account_keeps_at_most_500_sessions_and_a_new_sign_in_ends_the_least_recently_used() {
    let server = TestServer::start(Settings::default()).await;
    five_hundred_sessions(&server, |index| index - 1_000).await;
    let newest = server.sign_in().await;
    let listed = server.get("/user/sessions", &newest.access_token).send().await.unwrap();
    let listed: Vec<Value> = listed.json().await.unwrap();
    assert_eq!(listed.len(), 500, "the account's sessions stay bounded");
    assert!(listed.iter().any(|session| session["current"] == true), "the new sign-in is one of them");
    let ended: Option<String> = sqlx::query_scalar("SELECT revoke_reason FROM sessions WHERE id = $1")
        .bind("00000000-0000-4000-8000-000000000000")
        .fetch_one(&server.database().await)
        .await
        .unwrap();
    assert_eq!(ended.as_deref(), Some("session_limit"), "the least recently used one made room");
}

#[tokio::test]
async fn a_sign_in_never_ends_its_own_session_to_make_room() {
    let server = TestServer::start(Settings::default()).await;
    // Every one of them used in this very second, as the new sign-in is: a tie on every time.
    five_hundred_sessions(&server, |_| 0).await;
    let newest = server.sign_in().await;
    assert_eq!(server.user_status(&newest.access_token).await, StatusCode::OK, "the new session was ended");
}
