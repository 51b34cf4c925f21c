//! Two instances on one PostgreSQL database, as behind a load balancer: rotation stays atomic across them and a
//! revocation made by one reaches the other at once (`NOTIFY`), not at its next re-check. The clock never moves
//! here, so the one-second re-check cannot be what evicts a session.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use session_server::testing::wait_until;
use session_server::{Clock, ServerConfig, Settings, SystemClock};

use crate::support::{Launch, TEST_SECRET, TestServer, error_code, refresh_cookie};

/// How long an instance may take to notice its listening connection gone, or to listen again.
const LISTENING_CHANGES_WITHIN: Duration = Duration::from_secs(10);

const NEEDS_POSTGRES: &str = "needs PostgreSQL: cargo xtask test starts a cluster and includes it";

/// A and B on the same database, with the same secret and clock.
async fn two_instances() -> (TestServer, TestServer) {
    let a = TestServer::start(Settings::default()).await;
    assert!(a.database_url.is_some(), "{NEEDS_POSTGRES}");
    let b = Launch { database_url: a.database_url.clone(), clock: a.clock.clone(), ..Launch::new(Settings::default()) }
        .start()
        .await;
    (a, b)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn reuse_detected_by_one_instance_revokes_the_session_on_the_other_at_once() {
    let (a, b) = two_instances().await;
    let session = a.sign_in().await;
    // Refresh through B; B now remembers the session as live.
    let rotated = b.refresh(&session.refresh_token).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let access_token = rotated.json::<serde_json::Value>().await.unwrap()["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(b.user_status(&access_token).await, StatusCode::OK);

    // The old token again, through A, after the grace window: reuse.
    a.clock.advance(a.app.settings.refresh_grace + 1);
    assert_eq!(error_code(a.refresh(&session.refresh_token).await).await.1, "refresh_token_reused");
    let took = b.refused_within(&access_token, Duration::from_millis(100)).await;
    assert!(took.is_some(), "B still accepts the revoked session's access token after 100 ms");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn signing_out_through_one_instance_reaches_the_other_at_once() {
    let (a, b) = two_instances().await;
    let session = a.sign_in().await;
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::OK);
    assert_eq!(b.logout(&session.refresh_token).await.status(), StatusCode::NO_CONTENT);
    let took = a.refused_within(&session.access_token, Duration::from_millis(100)).await;
    assert!(took.is_some(), "A still accepts the signed-out session's access token after 100 ms");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn fifty_concurrent_refreshes_over_both_instances_rotate_once() {
    let (a, b) = two_instances().await;
    let token = a.sign_in().await.refresh_token;
    let refreshes = (0..50).map(|attempt| if attempt % 2 == 0 { a.refresh(&token) } else { b.refresh(&token) });
    let responses = join_all(refreshes).await;
    let mut children = std::collections::HashSet::new();
    for response in responses {
        // One rotates; every other gets the same child in the grace window, whichever instance it reached.
        assert_eq!(response.status(), StatusCode::OK);
        children.insert(refresh_cookie(response.headers()).expect("a child"));
    }
    assert_eq!(children.len(), 1, "every success carries the one child");
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens").fetch_one(&a.database().await).await.unwrap();
    assert_eq!(rows, 2, "the token and exactly one child");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn the_sign_in_limits_hold_across_instances() {
    let (a, b) = two_instances().await;
    // A burst of guesses for one account, split over both instances, still counts as one sequence.
    let passwords: Vec<String> = (0..20).map(|attempt| format!("guess {attempt}")).collect();
    let guesses = passwords.iter().enumerate().map(|(index, password)| {
        let server = if index % 2 == 0 { &a } else { &b };
        server.login_as(session_server::DEMO_USERNAME, password)
    });
    let statuses: Vec<StatusCode> = join_all(guesses).await.iter().map(reqwest::Response::status).collect();
    let verified = statuses.iter().filter(|status| **status == StatusCode::UNAUTHORIZED).count();
    assert_eq!(verified, 5, "{statuses:?}");

    // One address's thirty attempts a minute are thirty over both instances, not thirty each.
    for attempt in 5..30 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        let status = server.login_as(&format!("user{attempt}"), "x").await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    for server in [&a, &b] {
        assert_eq!(server.login_as("another", "x").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn without_its_listening_connection_an_instance_falls_back_to_the_one_second_recheck() {
    let (a, b) = two_instances().await;
    let session = a.sign_in().await;
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::OK);
    a.hearing_revocations().await;
    // A's listening connection is cut, as a network fault or a database restart would.
    let database = a.database().await;
    wait_until(LISTENING_CHANGES_WITHIN, Duration::from_millis(20), async || {
        if !a.app.live_sessions.is_listening() {
            return true;
        }
        // Only this test's database: other tests' instances listen in the same cluster.
        let own_listeners = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = $1 AND datname = current_database()";
        sqlx::query(own_listeners).bind(session_server::LISTENER_NAME).execute(&database).await.unwrap();
        false
    })
    .await;
    assert!(!a.app.live_sessions.is_listening(), "A did not notice its channel was gone");

    // Signed out through B while A cannot hear it: A reads the session again after a second of its clock.
    assert_eq!(b.logout(&session.refresh_token).await.status(), StatusCode::NO_CONTENT);
    a.clock.advance(session_server::RECHECK_SECONDS);
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);

    // And it listens again.
    wait_until(LISTENING_CHANGES_WITHIN, Duration::from_millis(50), async || a.app.live_sessions.is_listening()).await;
    assert!(a.app.live_sessions.is_listening(), "A never listened again");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn an_instance_with_another_secret_refuses_to_start_and_a_rotation_names_the_old_one() {
    let a = TestServer::start(Settings::default()).await;
    let database_url = a.database_url.clone().expect(NEEDS_POSTGRES);
    let data_dir = tempfile::tempdir().unwrap();
    let start = |secret: &str, previous: Option<&str>| {
        let mut config = ServerConfig::new(data_dir.path());
        config.database_url = Some(database_url.clone());
        config.signing_secret = Some(secret.to_owned());
        config.previous_secret = previous.map(str::to_owned);
        session_server::build_app(config)
    };
    let next = "the next signing secret, also long enough";
    let refused = start(next, None).await.err().expect("refused").to_string();
    assert!(refused.contains("another secret") && refused.contains("--previous-secret"), "{refused}");
    // A rotation: the new secret, with the old one as the previous.
    assert!(start(next, Some(TEST_SECRET)).await.is_ok());
    // From then on the database's instances sign with the new one; the old alone is refused.
    assert!(start(TEST_SECRET, None).await.is_err());
    assert!(start(next, None).await.is_ok());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn a_sign_out_whose_client_hangs_up_is_revoked_and_announced_or_neither() {
    let (a, b) = two_instances().await;
    let session = a.sign_in().await;
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::OK);
    // Another transaction holds the session's row: the sign-out through B waits for it...
    let database = a.database().await;
    let mut holder = database.begin().await.unwrap();
    sqlx::query("SELECT id FROM sessions FOR UPDATE").execute(&mut *holder).await.unwrap();
    let hung_up = b
        .post("/auth/logout")
        .header("Cookie", format!("__Secure-refresh={}", session.refresh_token))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    // ...and its client gives up, dropping the request, before the row is free.
    assert!(hung_up.is_err(), "answered while the row was held");
    holder.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The request was dropped before its transaction could commit: nothing was revoked, and both instances agree.
    // (The old code revoked it after the lock was released, in a statement of its own, and never told A.)
    let revoked: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM sessions").fetch_one(&database).await.unwrap();
    assert_eq!(revoked, None, "revoked by a request that was dropped");
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::OK);
    assert_eq!(b.user_status(&session.access_token).await, StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn the_server_reaches_postgresql_over_tls_with_its_certificate_checked() {
    let cluster = std::env::var("SESSION_TEST_DATABASE").expect(NEEDS_POSTGRES);
    let ca = std::env::var("SESSION_TEST_DATABASE_CA").expect("cargo xtask test names the cluster's CA");
    let database = session_server::testing::fresh_postgres_database(&cluster, "tls").await.unwrap();
    // What managed PostgreSQL asks for: TLS required, and the server's certificate checked against a CA.
    for url in [format!("{database}?sslmode=require"), format!("{database}?sslmode=verify-full&sslrootcert={ca}")] {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(data_dir.path());
        config.database_url = Some(url.clone());
        config.signing_secret = Some(TEST_SECRET.to_owned());
        let started = session_server::build_app(config).await;
        assert!(started.is_ok(), "{url}: {:?}", started.err());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(encrypted, "{url}");
    }
}

/// A TCP proxy in front of PostgreSQL that can go silent on the connections that sent `LISTEN`, as a NAT or a
/// proxy that dropped them would: no byte either way, and no close.
struct ListenerFreezer {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl ListenerFreezer {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let freezing = Arc::clone(&frozen);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let listens = Arc::new(AtomicBool::new(false));
                let (client_reads, client_writes) = client.into_split();
                let (server_reads, server_writes) = server.into_split();
                let pump = |from, to, watch| Self::pump(from, to, Arc::clone(&listens), watch, Arc::clone(&freezing));
                tokio::spawn(pump(client_reads, server_writes, true));
                tokio::spawn(pump(server_reads, client_writes, false));
            }
        });
        Self { port, frozen }
    }

    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        listens: Arc<AtomicBool>,
        watch_for_listen: bool,
        frozen: Arc<AtomicBool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let Ok(count) = from.read(&mut buffer).await else { return };
            if count == 0 {
                return;
            }
            if watch_for_listen && buffer[..count].windows(6).any(|window| window == b"LISTEN") {
                listens.store(true, Ordering::SeqCst);
            }
            if listens.load(Ordering::SeqCst) && frozen.load(Ordering::SeqCst) {
                // Silent from now on, and never closed.
                let _held = (from, to);
                return std::future::pending().await;
            }
            if to.write_all(&buffer[..count]).await.is_err() {
                return;
            }
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn a_listening_connection_dropped_without_a_word_is_noticed_and_the_recheck_takes_over() {
    let b = TestServer::start(Settings::default()).await;
    let direct = b.database_url.clone().expect(NEEDS_POSTGRES);
    let (upstream, database) = direct.rsplit_once('@').unwrap().1.split_once('/').unwrap();
    let freezer = ListenerFreezer::start(upstream.to_owned()).await;
    // A reaches the database through the freezer, in the clear so the freezer can tell its listener apart.
    let through = format!("postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable", freezer.port);
    let a = Launch { database_url: Some(through), clock: b.clock.clone(), ..Launch::new(Settings::default()) }
        .start()
        .await;
    let session = b.sign_in().await;
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::OK);
    a.hearing_revocations().await;

    // A's listening connection goes silent, as a NAT that forgot it would; B signs the session out.
    freezer.freeze();
    assert_eq!(b.logout(&session.refresh_token).await.status(), StatusCode::NO_CONTENT);
    let noticed =
        wait_until(LISTENING_CHANGES_WITHIN, Duration::from_millis(20), async || !a.app.live_sessions.is_listening());
    assert!(noticed.await.is_some(), "A still believes it hears every revocation");
    // From then on A re-reads the session after a second, as on SQLite.
    a.clock.advance(session_server::RECHECK_SECONDS);
    assert_eq!(a.user_status(&session.access_token).await, StatusCode::UNAUTHORIZED);
}

/// A machine whose clock runs `lag` seconds behind (NTP stopped, a VM resumed): real time, shifted.
struct LaggingClock(i64);

impl Clock for LaggingClock {
    fn now(&self) -> i64 {
        SystemClock.now() - self.0
    }
}

/// A, whose clock is right, and B, whose machine's clock lags a minute, on one database; both keep real time.
async fn one_instance_lagging(settings: Settings) -> (TestServer, TestServer) {
    let right = Launch { machine_clock: Some(Arc::new(SystemClock)), ..Launch::new(settings.clone()) }.start().await;
    assert!(right.database_url.is_some(), "{NEEDS_POSTGRES}");
    let lagging = Launch {
        database_url: right.database_url.clone(),
        machine_clock: Some(Arc::new(LaggingClock(60))),
        ..Launch::new(settings)
    }
    .start()
    .await;
    (right, lagging)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn an_instance_whose_clock_lags_cannot_stretch_the_grace_window() {
    let (right, lagging) = one_instance_lagging(Settings { refresh_grace: 1, ..Settings::default() }).await;
    let session = right.sign_in().await;
    right.rotate(&session.refresh_token).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // By the database's clock the grace ended over a second ago: the rotated token again is reuse, wherever it
    // lands (the lagging machine believes it was rotated a minute from now, inside the grace).
    assert_eq!(error_code(lagging.refresh(&session.refresh_token).await).await.1, "refresh_token_reused");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: cargo xtask test starts a cluster and includes it"]
async fn an_instance_whose_clock_lags_neither_stretches_a_session_nor_starts_one_already_over() {
    let settings = Settings { access_token_ttl: 1, session_ttl: 2, ..Settings::default() };
    let (right, lagging) = one_instance_lagging(settings).await;
    let session = right.sign_in().await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(error_code(lagging.refresh(&session.refresh_token).await).await.1, "session_expired");
    // And what it issues is dated by the database: a session it starts, and its access token, are not born
    // a minute old (over at once elsewhere).
    let started_there = lagging.sign_in().await;
    assert_eq!(right.user_status(&started_there.access_token).await, StatusCode::OK);
    assert_eq!(right.refresh(&started_there.refresh_token).await.status(), StatusCode::OK);
}
