//! Start-up: private files, a secret written whole, the demo account only when asked.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use reqwest::StatusCode;
use session_server::testing::wait_until;
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings, build_app};

use crate::support::{ServedBinary, TestServer, cookie_named};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_and_database_files_are_the_owners_alone() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let (app, _router) = build_app(ServerConfig::new(&data_dir)).await.unwrap();
    // A write, so the write-ahead log exists.
    app.sweep().await.unwrap();
    assert_eq!(mode(&data_dir), 0o700);
    for file in ["sessions.db", "sessions.db-wal", "sessions.db-shm", "signing-secret"] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    assert!(!data_dir.join("signing-secret.tmp").exists());
}

#[tokio::test]
async fn files_left_readable_by_an_older_start_are_narrowed() {
    let data_dir = tempfile::tempdir().unwrap();
    drop(build_app(ServerConfig::new(data_dir.path())).await.unwrap());
    for path in [data_dir.path().to_path_buf(), data_dir.path().join("sessions.db")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    drop(build_app(ServerConfig::new(data_dir.path())).await.unwrap());
    assert_eq!(mode(data_dir.path()), 0o700);
    assert_eq!(mode(&data_dir.path().join("sessions.db")), 0o600);
}

#[tokio::test]
async fn an_empty_secret_file_is_named_with_what_to_do() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::write(data_dir.path().join("signing-secret"), "").unwrap();
    let error = build_app(ServerConfig::new(data_dir.path())).await.err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("is empty") && message.contains("delete it"), "{message}");
}

#[tokio::test]
async fn the_generated_secret_is_kept_across_starts() {
    let data_dir = tempfile::tempdir().unwrap();
    drop(build_app(ServerConfig::new(data_dir.path())).await.unwrap());
    let secret = std::fs::read_to_string(data_dir.path().join("signing-secret")).unwrap();
    assert!(secret.len() >= 43, "{secret}");
    drop(build_app(ServerConfig::new(data_dir.path())).await.unwrap());
    assert_eq!(std::fs::read_to_string(data_dir.path().join("signing-secret")).unwrap(), secret);
}

#[tokio::test]
async fn there_is_no_demo_account_unless_asked_for() {
    let data_dir = tempfile::tempdir().unwrap();
    let (app, _router) = build_app(ServerConfig::new(data_dir.path())).await.unwrap();
    assert_eq!(app.store.user_count().await.unwrap(), 0);
    assert!(!app.created_demo_account);

    let server = TestServer::start(Settings::default()).await;
    assert!(server.app.created_demo_account);
    assert_eq!(server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await.status(), StatusCode::OK);
}

fn server_binary(data_dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_session-server"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--addr", "127.0.0.1:0", "--static-dir", "none"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Every line the server printed at start: once it has answered a request it serves, and prints no more.
fn printed_at_start(child: &mut std::process::Child) -> Vec<String> {
    use std::io::{BufRead, Read, Write};
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let address = first.trim().strip_prefix("Serving on http://").expect("the address first").to_owned();
    let mut connection = std::net::TcpStream::connect(&address).unwrap();
    connection.write_all(b"GET /user HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
    std::iter::once(first.trim().to_owned()).chain(stdout.lines().map(Result::unwrap)).collect()
}

#[test]
fn the_demo_password_is_printed_only_when_this_start_created_the_account() {
    let data_dir = tempfile::tempdir().unwrap();
    let printed = printed_at_start(&mut server_binary(data_dir.path(), &["--demo"])).join("\n");
    assert!(printed.contains(DEMO_PASSWORD), "{printed}");

    let printed = printed_at_start(&mut server_binary(data_dir.path(), &["--demo"])).join("\n");
    assert!(printed.starts_with("Serving on") && !printed.contains(DEMO_PASSWORD), "{printed}");
    let printed = printed_at_start(&mut server_binary(tempfile::tempdir().unwrap().path(), &[])).join("\n");
    assert!(printed.starts_with("Serving on") && !printed.contains(DEMO_PASSWORD), "{printed}");
}

#[test]
fn the_server_raises_its_open_file_limit_to_the_hard_limit() {
    let data_dir = tempfile::tempdir().unwrap();
    // Started with a low soft limit, as many systems start services.
    let mut server = std::process::Command::new("sh")
        .args(["-c", r#"ulimit -Sn 256 && exec "$0" "$@""#, env!("CARGO_BIN_EXE_session-server")])
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--addr", "127.0.0.1:0", "--static-dir", "none"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _ = first_lines_keeping(&mut server, 1);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.id())).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let open_files = limits.lines().find(|line| line.starts_with("Max open files")).expect("a limit");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft limit below the hard one: {open_files}");
}

/// The first lines the server prints, leaving it running.
fn first_lines_keeping(child: &mut std::process::Child, count: usize) -> Vec<String> {
    use std::io::BufRead;
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.lines().take(count).map(Result::unwrap).collect()
}

#[test]
fn the_refresh_cookie_is_secure_unless_served_over_http_on_loopback_and_the_start_says_which() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut local = server_binary(data_dir.path(), &[]);
    let printed = printed_at_start(&mut local).join("\n");
    assert!(printed.contains("Refresh cookie: refresh, not Secure"), "{printed}");

    let mut proxied = server_binary(data_dir.path(), &["--public-url", "https://app.example"]);
    let printed = printed_at_start(&mut proxied).join("\n");
    assert!(printed.contains("Refresh cookie: __Secure-refresh, Secure"), "{printed}");
}

#[test]
fn plain_http_on_a_non_loopback_address_is_refused_at_start() {
    let data_dir = tempfile::tempdir().unwrap();
    for args in [&["--addr", "0.0.0.0:0"][..], &["--public-url", "http://app.example"][..]] {
        let refused = std::process::Command::new(env!("CARGO_BIN_EXE_session-server"))
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("not a loopback address") && stderr.contains("https://"), "{stderr}");
    }
}

#[tokio::test]
async fn a_secret_file_left_readable_is_narrowed_and_one_already_private_is_left_alone() {
    // A hand-written secret readable by others; one mounted read-only (a Kubernetes secret), already private.
    for (before, after) in [(0o644, 0o600), (0o400, 0o400)] {
        let data_dir = tempfile::tempdir().unwrap();
        let secret = data_dir.path().join("signing-secret");
        std::fs::write(&secret, "a secret written by hand, long enough to sign with").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(before)).unwrap();
        drop(build_app(ServerConfig::new(data_dir.path())).await.unwrap());
        assert_eq!(mode(&secret), after, "{before:o}");
    }
}

#[tokio::test]
async fn a_data_directory_inside_the_served_directory_is_refused() {
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("index.html"), "<!doctype html>").unwrap();
    for data_dir in [served.path().join("data"), served.path().to_path_buf()] {
        let mut config = ServerConfig::new(&data_dir);
        config.static_dir = Some(served.path().to_path_buf());
        let error = build_app(config).await.err().expect("refused");
        let message = error.to_string();
        assert!(message.contains("inside") && message.contains("--static-dir"), "{message}");
    }
    assert!(!served.path().join("data/signing-secret").exists(), "nothing secret was written where it is served");
}

#[tokio::test]
async fn a_stopping_server_finishes_the_refresh_in_flight_then_exits() {
    // A Bearer client (`--dpop allowed`): what is tested is the stop, not the binding.
    let mut server =
        ServedBinary::start(&["--demo", "--dpop", "allowed", "--metrics", "--metrics-addr", "127.0.0.1:0"]);
    let http = reqwest::Client::new();
    let post = |path: &str| http.post(format!("{}{path}", server.base)).header("X-Requested-With", "fetch");
    let signed_in = post("/auth/login")
        .json(&serde_json::json!({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = cookie_named(signed_in.headers(), "refresh").expect("the loopback refresh cookie");
    // Another process holds the database's write lock: the refresh's rotation waits for it.
    let database = format!("sqlite://{}", server.data_dir().join("sessions.db").display());
    let outsider = sqlx::SqlitePool::connect(&database).await.unwrap();
    let lock = outsider.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let refresh = tokio::spawn(post("/auth/refresh").header("Cookie", format!("refresh={token}")).send());
    let metrics = server.metrics.clone().expect("/metrics");
    let in_flight = wait_until(Duration::from_secs(10), Duration::from_millis(10), async || {
        let text = http.get(&metrics).send().await.unwrap().text().await.unwrap();
        text.contains("session_db_connections{state=\"in_use\"} 1")
    });
    assert!(in_flight.await.is_some(), "the refresh waits for the lock");

    server.signal("TERM");
    // The server stops taking connections...
    let address = server.base.trim_start_matches("http://").to_owned();
    let closed = wait_until(Duration::from_secs(10), Duration::from_millis(10), async || {
        tokio::net::TcpStream::connect(&address).await.is_err()
    });
    assert!(closed.await.is_some(), "still accepting after SIGTERM");
    // ...and answers the refresh it was in the middle of, once the database lets it.
    lock.rollback().await.unwrap();
    let answered = refresh.await.unwrap().expect("answered, not dropped");
    assert_eq!(answered.status(), StatusCode::OK);
    let (status, printed) = server.exit(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "{status}");
    assert!(printed.contains("Stopped"), "{printed}");
}

#[test]
fn a_database_that_cannot_be_reached_is_told_at_once_with_its_cause() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut cases = vec![("postgres://session@127.0.0.1:1/session", "Connection refused")];
    // With a cluster at hand: a database that does not exist.
    let missing = std::env::var("SESSION_TEST_DATABASE")
        .ok()
        .map(|cluster| format!("{}/no_such_database", cluster.rsplit_once('/').unwrap().0));
    if let Some(missing) = &missing {
        cases.push((missing, "does not exist"));
    }
    for (url, cause) in cases {
        for command in [&["--database-url", url][..], &["--database-url", url, "user", "add", "ada"][..]] {
            let started = std::time::Instant::now();
            let refused = std::process::Command::new(env!("CARGO_BIN_EXE_session-server"))
                .arg("--data-dir")
                .arg(data_dir.path())
                .args(command)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{command:?} started");
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(stderr.contains(cause), "{command:?}: {stderr}");
            assert!(started.elapsed() < Duration::from_secs(10), "{command:?} took {:?}", started.elapsed());
        }
    }
}

#[tokio::test]
async fn metrics_listen_on_their_own_address_never_the_public_one_and_are_never_stored() {
    let server = ServedBinary::start(&["--metrics", "--metrics-addr", "127.0.0.1:0"]);
    let metrics = server.metrics.clone().expect("where /metrics listens");
    assert!(metrics.starts_with("http://127.0.0.1:") && metrics.ends_with("/metrics"), "{metrics}");
    assert!(!metrics.starts_with(&server.base), "a listener of its own");
    let answer = reqwest::get(&metrics).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert!(answer.text().await.unwrap().contains("session_logins_total"));
    let public = reqwest::get(format!("{}/metrics", server.base)).await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND, "the public listener does not show the counters");
}
