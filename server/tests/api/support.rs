//! A server on an ephemeral port with a clock the test moves, and the requests every suite makes.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use session_server::testing::{spawn_server_at, wait_until};
use session_server::{
    Clock, ConnectionLimits, DEMO_PASSWORD, DEMO_USERNAME, ManualClock, ServerConfig, Settings, SharedState,
};
use sha2::{Digest, Sha256};

/// The configured signing secret, so tests can forge tokens the way an attacker who knew it could.
pub const TEST_SECRET: &str = "a test signing secret that is long enough";

pub struct TestServer {
    pub base: String,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub app: SharedState,
    pub data_dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL database this server uses; `None` on SQLite (in `data_dir`).
    pub database_url: Option<String>,
}

/// `cargo xtask test` runs this suite twice: on SQLite, and with this variable naming a PostgreSQL cluster, in
/// which each test server gets a database of its own.
const POSTGRES_VARIABLE: &str = "SESSION_TEST_DATABASE";

/// A new, empty database in the cluster the environment names; `None` when the suite runs on SQLite.
pub async fn fresh_postgres_database() -> Option<String> {
    let cluster = std::env::var(POSTGRES_VARIABLE).ok()?;
    Some(session_server::testing::fresh_postgres_database(&cluster, "test").await.unwrap())
}

pub struct SignedIn {
    pub access_token: String,
    pub refresh_token: String,
}

/// How a test server starts; `TestServer::start` takes the defaults.
pub struct Launch {
    pub settings: Settings,
    pub clock: ManualClock,
    pub static_dir: Option<std::path::PathBuf>,
    pub limits: ConnectionLimits,
    pub secret: &'static str,
    /// The secret before `secret`, during a rotation.
    pub previous_secret: Option<&'static str>,
    /// Another server's data directory, to start again on its database.
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    /// Another server's PostgreSQL database (a second instance, or a restart); by default a fresh one when the
    /// suite runs on PostgreSQL.
    pub database_url: Option<String>,
    /// Where to listen: `127.0.0.1:0` by default, `[::]:0` for a dual-stack listener.
    pub listen: std::net::SocketAddr,
    /// A machine's clock that follows real time (one that lags, say) instead of `clock`. The server then dates
    /// as in production (on PostgreSQL by the database's time), and `TestServer::clock` moves nothing.
    pub machine_clock: Option<Arc<dyn Clock>>,
}

impl Launch {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            clock: ManualClock::starting_now(),
            static_dir: None,
            limits: ConnectionLimits::default(),
            secret: TEST_SECRET,
            previous_secret: None,
            data_dir: None,
            database_url: None,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            machine_clock: None,
        }
    }

    pub async fn start(self) -> TestServer {
        let reusing = self.data_dir.is_some();
        let data_dir = self.data_dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
        let database_url = match self.database_url {
            Some(url) => Some(url),
            None if reusing => None,
            None => fresh_postgres_database().await,
        };
        let mut config = ServerConfig::new(data_dir.path());
        config.database_url = database_url.clone();
        config.settings = self.settings;
        config.static_dir = self.static_dir;
        config.clock = match self.machine_clock {
            Some(machine_clock) => machine_clock,
            None => {
                // The test moves the clock: the database's time must not move it back.
                config.follow_database_clock = None;
                Arc::new(self.clock.clone())
            }
        };
        config.signing_secret = Some(self.secret.to_owned());
        config.previous_secret = self.previous_secret.map(str::to_owned);
        config.demo_account = true;
        let server = spawn_server_at(config, self.limits, self.listen).await.unwrap();
        TestServer {
            base: server.base_url,
            clock: self.clock,
            http: reqwest::Client::new(),
            app: server.app,
            data_dir,
            database_url,
        }
    }
}

impl TestServer {
    pub async fn start(settings: Settings) -> Self {
        Launch::new(settings).start().await
    }

    /// With the built app in `static_dir`, as `cargo xtask serve` runs it.
    pub async fn start_serving(settings: Settings, static_dir: &std::path::Path) -> Self {
        Launch { static_dir: Some(static_dir.to_path_buf()), ..Launch::new(settings) }.start().await
    }

    /// The address the server is reached at, for raw TCP.
    pub fn address(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    /// A client whose connections come from another loopback address: another client, as the server sees it.
    pub fn client_from(&self, address: [u8; 4]) -> reqwest::Client {
        reqwest::Client::builder().local_address(std::net::IpAddr::from(address)).build().unwrap()
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).header("X-Requested-With", "fetch")
    }

    pub fn get(&self, path: &str, access_token: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(access_token)
    }

    pub async fn login_as(&self, username: &str, password: &str) -> reqwest::Response {
        self.post("/auth/login").json(&json!({"username": username, "password": password})).send().await.unwrap()
    }

    pub async fn sign_in(&self) -> SignedIn {
        let response = self.login_as(DEMO_USERNAME, DEMO_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let refresh_token = refresh_cookie(response.headers()).expect("a refresh cookie");
        let body: Value = response.json().await.unwrap();
        SignedIn { access_token: body["accessToken"].as_str().unwrap().to_owned(), refresh_token }
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/auth/refresh").header("Cookie", format!("__Secure-refresh={refresh_token}")).send().await.unwrap()
    }

    pub async fn logout(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/auth/logout").header("Cookie", format!("__Secure-refresh={refresh_token}")).send().await.unwrap()
    }

    /// Refreshes with `refresh_token`, which must succeed, and returns the rotated token.
    pub async fn rotate(&self, refresh_token: &str) -> String {
        let response = self.refresh(refresh_token).await;
        assert_eq!(response.status(), StatusCode::OK, "refresh refused");
        refresh_cookie(response.headers()).expect("a rotated refresh cookie")
    }

    /// Every byte SQLite keeps on disk for this server: the database, its write-ahead log and shared memory.
    pub async fn database_bytes(&self) -> Vec<u8> {
        if self.database_url.is_some() {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(t AS TEXT) FROM refresh_tokens t UNION ALL SELECT CAST(s AS TEXT) FROM sessions s",
            )
            .fetch_all(&self.database().await)
            .await
            .unwrap();
            return rows.concat().into_bytes();
        }
        ["sessions.db", "sessions.db-wal", "sessions.db-shm"]
            .iter()
            .filter_map(|name| std::fs::read(self.data_dir.path().join(name)).ok())
            .flatten()
            .collect()
    }

    /// The server's database, whichever it is; SQL in tests uses `$1` placeholders, which both read.
    pub async fn database(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.path().join("sessions.db").display()));
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    /// `--data-dir` and, on PostgreSQL, `--database-url`: how the account commands reach this server's accounts.
    pub fn database_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir.path().display().to_string()];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    pub async fn user_status(&self, access_token: &str) -> StatusCode {
        self.get("/user", access_token).send().await.unwrap().status()
    }

    /// On PostgreSQL, once this server hears the revocations other processes announce; at once on SQLite. A test
    /// of the announcement waits for it: a listener that connects later forgets every remembered session anyway,
    /// and would hide an announcement that never came.
    pub async fn hearing_revocations(&self) {
        if self.database_url.is_some() {
            let listening = async || self.app.live_sessions.is_listening();
            let heard = wait_until(Duration::from_secs(10), Duration::from_millis(10), listening).await;
            assert!(heard.is_some(), "the server never listened for revocations");
        }
    }

    /// Polls until the access token is refused; how long that took, if within `limit`. A revocation made by another
    /// process reaches this one asynchronously (announced on PostgreSQL), never before the call that made it returns.
    pub async fn refused_within(&self, access_token: &str, limit: Duration) -> Option<Duration> {
        wait_until(limit, Duration::from_millis(5), async || {
            self.user_status(access_token).await == StatusCode::UNAUTHORIZED
        })
        .await
    }
}

pub fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get(SET_COOKIE).map(|value| value.to_str().unwrap().to_owned())
}

/// The value of the cookie `name` among every `Set-Cookie` of `headers`.
pub fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(SET_COOKIE).iter().find_map(|value| {
        let (pair, _) = value.to_str().ok()?.split_once(';')?;
        pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned)
    })
}

pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    let cookie = set_cookie(headers)?;
    let value = cookie.strip_prefix("__Secure-refresh=")?.split(';').next()?.to_owned();
    (!value.is_empty()).then_some(value)
}

pub async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

pub fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The access-token key the server derives from [`TEST_SECRET`].
pub fn access_signing_key() -> Vec<u8> {
    access_signing_key_of(TEST_SECRET)
}

/// The access-token key the server derives from `secret`.
pub fn access_signing_key_of(secret: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"access-token-signing");
    mac.finalize().into_bytes().to_vec()
}

/// A JWT with exactly this header and these claims, signed with HMAC-SHA256 under `key`.
pub fn forge(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The server binary itself, serving on an ephemeral loopback port with a data directory of its own: for what
/// only a process shows (its memory, what it prints). Killed when dropped.
pub struct ServedBinary {
    child: std::process::Child,
    pub base: String,
    /// Where `/metrics` listens, with `--metrics`.
    pub metrics: Option<String>,
    /// Kept open: the server prints more lines after the first.
    stdout_rest: std::io::BufReader<std::process::ChildStdout>,
    data_dir: tempfile::TempDir,
}

impl ServedBinary {
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_session-server"))
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--addr", "127.0.0.1:0", "--static-dir", "none"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let base = first.trim().strip_prefix("Serving on ").expect("the address it serves on").to_owned();
        let metrics = args.contains(&"--metrics").then(|| {
            let mut second = String::new();
            stdout.read_line(&mut second).unwrap();
            second.trim().strip_prefix("Metrics on ").expect("where /metrics listens").to_owned()
        });
        Self { child, base, metrics, stdout_rest: stdout, data_dir }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Sends the process a signal by name (`TERM`, `INT`), as an orchestrator would.
    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(sent.unwrap().success(), "kill -{name}");
    }

    /// Waits up to `patience` for the process to exit; its status and what it printed after the first line.
    pub fn exit(&mut self, patience: std::time::Duration) -> Option<(std::process::ExitStatus, String)> {
        use std::io::Read;
        let started = std::time::Instant::now();
        while started.elapsed() < patience {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut printed = String::new();
                self.stdout_rest.read_to_string(&mut printed).unwrap();
                return Some((status, printed));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// The process's resident memory, in KiB.
    pub fn resident_kib(&self) -> u64 {
        session_server::testing::resident_kib(self.child.id()).unwrap()
    }
}

impl Drop for ServedBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
