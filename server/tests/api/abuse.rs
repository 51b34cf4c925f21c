//! The server under abuse: slow clients, connection floods, guess bursts, lockout attempts, password-check floods,
//! refresh-token guessing, and clients behind a proxy.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use session_server::{ConnectionLimits, DEMO_PASSWORD, DEMO_USERNAME, Settings, set_password};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Launch, ServedBinary, TestServer, cookie_named, error_code};

const SHORT_LIMITS: ConnectionLimits = ConnectionLimits {
    header_read_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(2),
    write_timeout: Duration::from_secs(1),
    max_connections: 64,
    max_connections_per_address: 64,
    unlimited_peers: Vec::new(),
};

/// Reads until the server closes the connection; `None` if it is still open after `patience`.
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut received)).await;
    read.ok().map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let server = Launch { limits: SHORT_LIMITS, ..Launch::new(Settings::default()) }.start().await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        stream.write_all(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Ty").await.unwrap();
        slow.push(stream);
    }
    for stream in &mut slow {
        assert!(read_until_closed(stream, Duration::from_secs(5)).await.is_some(), "a slow client is still connected");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = Launch { limits: SHORT_LIMITS, ..Launch::new(Settings::default()) }.start().await;
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(b"GET /user HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("closed after idling");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_times_out() {
    let server = Launch { limits: SHORT_LIMITS, ..Launch::new(Settings::default()) }.start().await;
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    let head = "POST /auth/login HTTP/1.1\r\nHost: x\r\nX-Requested-With: fetch\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"user";
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(6)).await.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Opens `count` connections that each got an answer and stay open, then one more: the open ones, and what the
/// last one was answered before it was closed.
async fn one_connection_more_than(server: &TestServer, count: usize) -> (Vec<TcpStream>, String) {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        stream.write_all(b"GET /user HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        held.push(stream);
    }
    let mut extra = TcpStream::connect(server.address()).await.unwrap();
    let _ = extra.write_all(b"GET /user HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_until_closed(&mut extra, Duration::from_secs(5)).await.expect("closed at once");
    (held, answer)
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503_and_closed() {
    let limits = ConnectionLimits { max_connections: 3, header_read_timeout: Duration::from_secs(30), ..SHORT_LIMITS };
    let server = Launch { limits, ..Launch::new(Settings::default()) }.start().await;
    let (held, answer) = one_connection_more_than(&server, 3).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");

    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = server.get("/user", "x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "served again once connections closed");
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_dropped() {
    // A large answer (named .gz, so the start does not spend seconds compressing it): more than the kernel's
    // socket buffers hold.
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("index.html"), "<!doctype html>").unwrap();
    let size = 64 << 20;
    std::fs::write(app.path().join("large.gz"), vec![7u8; size]).unwrap();
    let launch =
        Launch { limits: SHORT_LIMITS, static_dir: Some(app.path().to_path_buf()), ..Launch::new(Settings::default()) };
    let server = launch.start().await;
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(b"GET /large.gz HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n").await.unwrap();
    // The client reads nothing for longer than the write timeout...
    tokio::time::sleep(Duration::from_secs(3)).await;
    // ...and then finds only what the sockets had buffered, and the connection closed.
    let received = read_bytes_until_closed(&mut stream, Duration::from_secs(20)).await.expect("closed");
    assert!(received < size, "the whole answer waited for a client that did not read ({received} bytes)");
}

/// Reads until the server closes the connection, counting bytes; `None` if it is still open after `patience`.
async fn read_bytes_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<usize> {
    let mut received = 0;
    let mut buffer = vec![0u8; 1 << 16];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return received,
                Ok(count) => received += count,
            }
        }
    };
    tokio::time::timeout(patience, reading).await.ok()
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let limits = ConnectionLimits {
        max_connections_per_address: 3,
        header_read_timeout: Duration::from_secs(30),
        ..SHORT_LIMITS
    };
    let server = Launch { limits, ..Launch::new(Settings::default()) }.start().await;
    let (held, answer) = one_connection_more_than(&server, 3).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // Another address is served.
    let response = server.client_from([127, 0, 0, 2]).get(format!("{}/user", server.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    drop(held);
}

#[tokio::test]
async fn a_burst_of_guesses_is_counted_as_a_sequence() {
    let server = TestServer::start(Settings::default()).await;
    let passwords: Vec<String> = (0..20).map(|attempt| format!("guess {attempt}")).collect();
    let guesses = passwords.iter().map(|password| server.login_as(DEMO_USERNAME, password));
    let statuses: Vec<StatusCode> = join_all(guesses).await.iter().map(reqwest::Response::status).collect();
    let verified = statuses.iter().filter(|status| **status == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((verified, throttled), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn someone_elses_failures_do_not_lock_the_real_user_out() {
    let server = TestServer::start(Settings::default()).await;
    let attacker = server.client_from([127, 0, 0, 2]);
    for attempt in 0..20 {
        let _ = attacker
            .post(format!("{}/auth/login", server.base))
            .header("X-Requested-With", "fetch")
            .json(&json!({"username": DEMO_USERNAME, "password": format!("guess {attempt}")}))
            .send()
            .await
            .unwrap();
        server.clock.advance(1);
    }
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}

/// A sign-in from `address`, with `cookie` (a device cookie) if given.
async fn login_from(server: &TestServer, address: [u8; 4], password: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = server
        .client_from(address)
        .post(format!("{}/auth/login", server.base))
        .header("X-Requested-With", "fetch")
        .json(&json!({"username": DEMO_USERNAME, "password": password}));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn guesses_from_everywhere_lock_unknown_devices_out_never_a_device_that_signed_in_before() {
    let server = TestServer::start(Settings::default()).await;
    let signed_in = login_from(&server, [127, 0, 0, 1], DEMO_PASSWORD, None).await;
    let device = cookie_named(signed_in.headers(), "__Secure-device").expect("a device cookie");
    let device = format!("__Secure-device={device}");
    // 20 addresses, 5 wrong passwords each: the account's hourly ceiling for unknown devices.
    for address in 0..20 {
        for attempt in 0..5 {
            let guess = login_from(&server, [127, 0, 1, address], &format!("guess {attempt}"), None).await;
            assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let new_device = login_from(&server, [127, 0, 2, 1], DEMO_PASSWORD, None).await;
    assert_eq!(new_device.status(), StatusCode::TOO_MANY_REQUESTS, "the ceiling holds for unknown devices");
    let known = login_from(&server, [127, 0, 2, 2], DEMO_PASSWORD, Some(&device)).await;
    assert_eq!(known.status(), StatusCode::OK, "the user's own browser was locked out by strangers' guesses");
    // A cookie a sibling site planted beside it does not hide it.
    let device = format!("__Secure-device={}", cookie_named(known.headers(), "__Secure-device").unwrap());
    let beside_a_planted_one = format!("__Secure-device=planted; {device}");
    let known = login_from(&server, [127, 0, 2, 4], DEMO_PASSWORD, Some(&beside_a_planted_one)).await;
    assert_eq!(known.status(), StatusCode::OK);
    // Another account's device cookie, or a forged one, is no device of this account.
    let forged = format!("__Secure-device={}", "A".repeat(80));
    let refused = login_from(&server, [127, 0, 2, 3], DEMO_PASSWORD, Some(&forged)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_device_cookie_from_before_a_password_change_is_an_unknown_device_again() {
    let server = TestServer::start(Settings::default()).await;
    // Someone who had the old password signed in, and keeps the browser's device cookie (or many of them).
    let signed_in = login_from(&server, [127, 0, 0, 1], DEMO_PASSWORD, None).await;
    let old_device = format!("__Secure-device={}", cookie_named(signed_in.headers(), "__Secure-device").unwrap());
    set_password(&server.app.store, DEMO_USERNAME, "a brand new password", 0).await.unwrap();
    // Guesses from everywhere reach the account's hourly ceiling for unknown devices.
    for address in 0..20 {
        for attempt in 0..5 {
            let guess = login_from(&server, [127, 0, 1, address], &format!("guess {attempt}"), None).await;
            assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
        }
    }
    // The old cookie no longer gives its holder a budget of its own beside the account's ceiling.
    let old = login_from(&server, [127, 0, 2, 1], "a brand new password", Some(&old_device)).await;
    assert_eq!(old.status(), StatusCode::TOO_MANY_REQUESTS, "a device of the old password is a stranger");
}

#[tokio::test]
async fn guesses_with_a_stolen_device_cookie_lock_only_that_device() {
    let server = TestServer::start(Settings::default()).await;
    let signed_in = login_from(&server, [127, 0, 0, 1], DEMO_PASSWORD, None).await;
    let stolen = format!("__Secure-device={}", cookie_named(signed_in.headers(), "__Secure-device").unwrap());
    for attempt in 0..5 {
        let guess = login_from(&server, [127, 0, 3, attempt], &format!("guess {attempt}"), Some(&stolen)).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = login_from(&server, [127, 0, 3, 9], DEMO_PASSWORD, Some(&stolen)).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "the device's own backoff");
    // The account is not: its owner signs in from another browser.
    assert_eq!(login_from(&server, [127, 0, 4, 1], DEMO_PASSWORD, None).await.status(), StatusCode::OK);
}

fn login_via_proxy(server: &TestServer, client: &str, username: &str) -> reqwest::RequestBuilder {
    server
        .post("/auth/login")
        .header("X-Forwarded-For", client)
        .json(&json!({"username": username, "password": "wrong password"}))
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    let settings = Settings { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Settings::default() };
    let server = TestServer::start(settings).await;
    for attempt in 0..30 {
        let response = login_via_proxy(&server, "198.51.100.7", &format!("user{attempt}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let busy = login_via_proxy(&server, "198.51.100.7", "another").send().await.unwrap();
    assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = login_via_proxy(&server, "198.51.100.8", "another").send().await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another client behind the same proxy");
    // A client cannot pick its own address by writing the header first.
    let spoofed = login_via_proxy(&server, "203.0.113.1, 198.51.100.7", "another").send().await.unwrap();
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_trusted_proxy_is_recognised_on_a_dual_stack_listener() {
    // Listening on [::], the proxy's IPv4 address arrives as ::ffff:127.0.0.1.
    let settings = Settings { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Settings::default() };
    let listen = std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
    let server = Launch { listen, ..Launch::new(settings) }.start().await;
    let session = server.sign_in().await;
    let refresh_via_proxy = |client: &'static str, token: &str| {
        server
            .post("/auth/refresh")
            .header("X-Forwarded-For", client)
            .header("Cookie", format!("__Secure-refresh={token}"))
    };
    // One client behind the proxy (writing its port, as some proxies do) guesses until it is refused.
    for attempt in 0..30 {
        let guess = refresh_via_proxy("198.51.100.7:50123", &format!("guess-{attempt}")).send().await.unwrap();
        assert_eq!(error_code(guess).await.1, "session_expired", "guess {attempt}");
    }
    let refused = refresh_via_proxy("198.51.100.7:50124", "guess").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy keeps its own budget.
    let other = refresh_via_proxy("[2001:db8::8]:443", &session.refresh_token).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::OK, "every client shares the proxy's budget");
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_address() {
    let server = TestServer::start(Settings::default()).await;
    for attempt in 0..30 {
        let client = format!("198.51.100.{attempt}");
        let response = login_via_proxy(&server, &client, &format!("user{attempt}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = login_via_proxy(&server, "198.51.100.200", "another").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "X-Forwarded-For from an untrusted peer counted");
}

#[tokio::test]
async fn a_flood_of_sign_ins_waits_for_a_password_check_then_gets_503() {
    let settings = Settings { password_checks: 1, password_check_wait: Duration::ZERO, ..Settings::default() };
    let server = TestServer::start(settings).await;
    let usernames: Vec<String> = (0..6).map(|attempt| format!("user{attempt}")).collect();
    let attempts = usernames.iter().map(|username| server.login_as(username, "a password"));
    let mut busy = 0;
    for response in join_all(attempts).await {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()["retry-after"], "1");
                assert_eq!(error_code(response).await.1, "server_busy");
                busy += 1;
            }
            status => panic!("unexpected {status}"),
        }
    }
    assert!(busy > 0, "six sign-ins at once all got a password check of their own");
    // Busy answers are not failures: the account is not held back by them.
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_ins_whose_clients_went_away_are_not_checked_and_hold_no_place() {
    let settings = Settings { password_checks: 1, password_check_wait: Duration::from_secs(30), ..Settings::default() };
    let server = TestServer::start(settings).await;
    // Clients giving up one after another, each a little later, while their checks queue.
    let usernames: Vec<String> = (0..25).map(|attempt| format!("gone{attempt}")).collect();
    let attempts = usernames.iter().zip(0..).map(|(username, attempt)| {
        server
            .post("/auth/login")
            .timeout(Duration::from_millis(60 + 2 * attempt))
            .json(&json!({"username": username, "password": "a password"}))
            .send()
    });
    assert!(join_all(attempts).await.iter().any(Result::is_err), "some clients gave up while queued");
    // A real sign-in queues behind whatever is left: the checks nobody waits for any more are skipped, not run.
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
    let abandoned_run = server.app.password_checks.stats().ran - 1;
    assert!(abandoned_run < 12, "{abandoned_run} checks ran for clients that had gone");
}

#[tokio::test]
async fn guessing_refresh_tokens_is_limited_per_address() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    for attempt in 0..30 {
        let guess = server.refresh(&format!("guessed-token-{attempt}")).await;
        assert_eq!(error_code(guess).await.1, "session_expired", "attempt {attempt}");
    }
    let refused = server.refresh(&session.refresh_token).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(error_code(refused).await, (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()));
    // The real session is untouched, and another address refreshes as usual.
    let elsewhere = server
        .client_from([127, 0, 0, 3])
        .post(format!("{}/auth/refresh", server.base))
        .header("X-Requested-With", "fetch")
        .header("Cookie", format!("__Secure-refresh={}", session.refresh_token))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
}

#[tokio::test]
async fn refreshes_that_present_nothing_or_stay_under_the_limit_write_no_counter() {
    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    // A flood without any cookie: each is refused at once, and must not cost a locked write (on PostgreSQL, a
    // counter row inserted, locked and rewritten for every request, queued on one row lock).
    for _ in 0..40 {
        let answer = server.post("/auth/refresh").send().await.unwrap();
        assert_eq!(error_code(answer).await, (StatusCode::FORBIDDEN, "session_expired".into()));
    }
    assert_eq!(server.refresh(&session.refresh_token).await.status(), StatusCode::OK, "nothing counted");
    if server.database_url.is_some() {
        let counters: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_counters WHERE key LIKE 'refresh %'")
            .fetch_one(&server.database().await)
            .await
            .unwrap();
        assert_eq!(counters, 0, "asking whether to wait wrote nothing");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_sign_in_flood_leaves_memory_bounded_by_the_password_checks() {
    const CHECKS: u64 = 2;
    const ARGON2_KIB: u64 = 19 * 1024;
    // Waits long enough that a loaded machine answers every attempt (the queue drains at a few dozen a second).
    let waits = ["--password-check-wait", "120", "--request-timeout", "300"];
    // Bearer sign-ins (`--dpop allowed`): each reaches the password check, as a flood with proofs (which cost
    // an attacker nothing to make) would under the default.
    let checks = CHECKS.to_string();
    let server = ServedBinary::start(&[&["--dpop", "allowed", "--password-checks", &checks][..], &waits[..]].concat());
    let before = server.resident_kib();
    // 25 attempts from each of 16 addresses (under every throttle), all at once.
    let statuses = session_server::testing::sign_in_flood(&server.base, 16, 25).await;
    assert!(statuses.iter().all(|status| *status == 401), "{statuses:?}");
    let grown = server.resident_kib().saturating_sub(before);
    // Each check's Argon2 memory, and some slack for connections and buffers.
    let bound = CHECKS * ARGON2_KIB + 40 * 1024;
    assert!(grown <= bound, "400 sign-ins grew the server by {grown} KiB (bound {bound} KiB)");
}

#[tokio::test]
async fn names_no_account_can_have_are_refused_before_anything_is_counted() {
    let server = TestServer::start(Settings::default()).await;
    // Far more than the address's 30 attempts a minute, each with a name over PostgreSQL's index row limit
    // (2.7 KB once compressed: letters that do not compress).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut letter = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        char::from(b'a' + u8::try_from(state % 26).unwrap())
    };
    for attempt in 0..40 {
        let long_name: String = (0..7000).map(|_| letter()).collect();
        let long_name = format!("{attempt}{long_name}");
        for username in [long_name.as_str(), "spaces are not allowed", "", "é"] {
            let refused = server.login_as(username, "a password").await;
            assert_eq!(error_code(refused).await, (StatusCode::UNAUTHORIZED, "invalid_credentials".into()));
        }
    }
    // Nothing was counted: this address still signs in.
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}
