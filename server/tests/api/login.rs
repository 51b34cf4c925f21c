//! Login: Argon2id, no account enumeration, throttling, JSON only, the account commands.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use session_server::testing::wait_until;
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, NewUser, RECHECK_SECONDS, Settings, add_user, set_password};

use crate::support::{TestServer, error_code};

#[tokio::test]
async fn passwords_are_stored_as_argon2id_with_owasp_parameters() {
    let server = TestServer::start(Settings::default()).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'demo'")
        .fetch_one(&server.database().await)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

async fn refusal_time(server: &TestServer, username: &str) -> Duration {
    let started = Instant::now();
    assert_eq!(server.login_as(username, "not the password").await.status(), StatusCode::UNAUTHORIZED);
    started.elapsed()
}

#[tokio::test]
async fn an_unknown_user_still_costs_a_password_verification() {
    let server = TestServer::start(Settings::default()).await;
    // Alternating, and the fastest of each: other tests share the two cores, and only the fastest attempt of
    // each kind shows the work it cannot skip.
    let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        known = known.min(refusal_time(&server, DEMO_USERNAME).await);
        unknown = unknown.min(refusal_time(&server, "nobody-by-this-name").await);
    }
    // Without the dummy verification the unknown user would answer in well under a tenth of the time.
    assert!(unknown * 2 > known, "unknown user {unknown:?} vs wrong password {known:?}");
}

#[tokio::test]
async fn an_unreadable_stored_hash_still_costs_a_password_verification() {
    let server = TestServer::start(Settings::default()).await;
    let broken = NewUser { username: "broken", password: "a long enough password", display_name: "B", email: "" };
    add_user(&server.app.store, broken, 0).await.unwrap();
    sqlx::query("UPDATE users SET password_hash = 'not an argon2 hash' WHERE username = 'broken'")
        .execute(&server.database().await)
        .await
        .unwrap();
    let (mut known, mut broken) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        known = known.min(refusal_time(&server, DEMO_USERNAME).await);
        broken = broken.min(refusal_time(&server, "broken").await);
    }
    assert!(broken * 2 > known, "unreadable hash {broken:?} vs wrong password {known:?}");
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_accounts_failure_count() {
    let server = TestServer::start(Settings::default()).await;
    for _ in 0..4 {
        assert_eq!(server.login_as(DEMO_USERNAME, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(server.login_as(DEMO_USERNAME, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_client_address_is_throttled_across_accounts() {
    let server = TestServer::start(Settings::default()).await;
    for attempt in 0..30 {
        let status = server.login_as(&format!("guess{attempt}"), "x").await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let throttled = server.login_as("guess-more", "x").await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(error_code(throttled).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()));
}

#[tokio::test]
async fn a_form_body_is_refused_as_not_json() {
    let server = TestServer::start(Settings::default()).await;
    let form =
        server.post("/auth/login").form(&[("username", "demo"), ("password", DEMO_PASSWORD)]).send().await.unwrap();
    assert_eq!(error_code(form).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type".into()));
}

/// The server binary's account commands, on the accounts of `server`.
fn server_command(server: &TestServer, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_session-server"))
        .args(server.database_args())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_user_add_command_creates_an_account_that_can_sign_in() {
    let server = TestServer::start(Settings::default()).await;
    let added =
        server_command(&server, &["user", "add", "alice", "--email", "a@example.com"], "alice's long password\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(server.login_as("alice", "alice's long password").await.status(), StatusCode::OK);

    let again = server_command(&server, &["user", "add", "alice"], "another long password\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = server_command(&server, &["user", "add", "bob"], "short\n");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
}

#[tokio::test]
async fn the_set_password_command_signs_the_user_out_everywhere() {
    let server = TestServer::start(Settings::default()).await;
    server.hearing_revocations().await;
    let (laptop, phone) = (server.sign_in().await, server.sign_in().await);
    for device in [&laptop, &phone] {
        assert_eq!(server.user_status(&device.access_token).await, StatusCode::OK);
    }
    let changed = server_command(&server, &["user", "set-password", DEMO_USERNAME], "the next password\n");
    assert!(changed.status.success(), "{}", String::from_utf8_lossy(&changed.stderr));
    // Another process changed the database: this one sees it at its next recheck, or when the announcement is heard.
    server.clock.advance(RECHECK_SECONDS);
    for device in [&laptop, &phone] {
        let refused = server.refused_within(&device.access_token, Duration::from_secs(1)).await;
        assert!(refused.is_some(), "an access token of a revoked session is still accepted after a second");
    }
    for device in [&laptop, &phone] {
        assert_eq!(error_code(server.refresh(&device.refresh_token).await).await.1, "session_expired");
    }
    assert_eq!(server.login_as(DEMO_USERNAME, "the next password").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_in_waiting_for_its_password_check_does_not_outlive_a_password_change() {
    // One check at a time and a long wait: junk sign-ins queue the real one, widening the window.
    let settings = Settings { password_checks: 1, password_check_wait: Duration::from_secs(60), ..Settings::default() };
    let server = TestServer::start(settings).await;
    let checks = &server.app.password_checks;
    let usernames: Vec<String> = (0..28).map(|attempt| format!("junk{attempt}")).collect();
    let junk = join_all(usernames.iter().map(|username| server.login_as(username, "a password")));
    let attack = async {
        let asked = |count| async move || checks.stats().asked >= count;
        let every = Duration::from_millis(2);
        wait_until(Duration::from_secs(10), every, asked(28)).await.expect("the junk sign-ins queue");
        let old_password = server.login_as(DEMO_USERNAME, DEMO_PASSWORD);
        let change = async {
            wait_until(Duration::from_secs(10), every, asked(29)).await.expect("the sign-in queues");
            set_password(&server.app.store, DEMO_USERNAME, "the next password", server.app.now()).await.unwrap();
            // Checks run in order: while any sign-in waits, the real one, queued last, does.
            assert!(checks.stats().waiting > 0, "the change came too late to test anything");
        };
        tokio::join!(old_password, change).0
    };
    let (_, signed_in) = tokio::join!(junk, attack);
    assert_eq!(error_code(signed_in).await, (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned()));
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(&server.database().await)
        .await
        .unwrap();
    assert_eq!(live, 0, "a session checked against the old password is live");
}
