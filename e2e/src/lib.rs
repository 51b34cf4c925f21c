//! What every end-to-end test needs: the real server with the built app, and real headless Chromium.

mod accessibility;
mod devtools;
mod engine;
mod fault_proxy;
mod tls_proxy;

pub use devtools::Throttling;
pub use engine::Engine;
pub use fault_proxy::{Fault, FaultProxy, SeenRequest};
pub use tls_proxy::TlsProxy;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use devtools::{DevTools, NetworkConditions};
use session_server::testing::{free_port, fresh_postgres_database, spawn_server, wait_until};
use session_server::{Clock, ConnectionLimits, CookieMode, ServerConfig, Settings, SiteOrigin};

/// The server as `cargo xtask serve` runs it, on an ephemeral port with its own data directory.
pub struct TestServer {
    pub base_url: String,
    pub app: session_server::SharedState,
    /// The refresh cookie's name: `refresh` on loopback HTTP, `__Secure-refresh` behind the TLS proxy.
    pub refresh_cookie: &'static str,
    /// Every instance's `/metrics` (one instance, or two behind the proxy at `base_url`), on its own listener.
    metrics: Vec<String>,
    _data_dirs: Vec<tempfile::TempDir>,
    /// Keeps the round-robin proxy's counters alive with it.
    _round_robin: Option<FaultProxy>,
    /// nginx, in the production shape.
    pub tls_proxy: Option<TlsProxy>,
    /// The public URL's host.
    public_host: String,
}

/// Instances started on one configuration, with what must live as long as they do.
struct Instances {
    apps: Vec<session_server::SharedState>,
    urls: Vec<String>,
    metrics: Vec<String>,
    data_dirs: Vec<tempfile::TempDir>,
}

/// The folder screenshots are written to; unset, none is taken.
pub const SCREENSHOTS_VARIABLE: &str = "E2E_SCREENSHOTS";

/// Where screenshots go, when a run asks for them.
pub fn screenshots_dir() -> Option<PathBuf> {
    std::env::var_os(SCREENSHOTS_VARIABLE).map(PathBuf::from)
}

/// How often the tests look again at what the browser or the server is doing (`wait_until`).
pub const POLL: Duration = Duration::from_millis(50);

/// With this variable naming a PostgreSQL cluster, every test server is two instances on one new database behind
/// a round-robin proxy, as a load balancer would put them.
const TWO_INSTANCES_VARIABLE: &str = "E2E_POSTGRES";
/// Two instances must sign with the same key.
const SHARED_SECRET: &str = "the e2e suite's signing secret, shared by its instances";

impl TestServer {
    pub async fn start(settings: Settings) -> Self {
        Self::serving(settings, built_app_dir()).await
    }

    /// The server on a clock of its own (one far from the browser's, say).
    pub async fn start_on(settings: Settings, clock: Arc<dyn Clock>) -> Self {
        Self::serving_on(settings, built_app_dir(), Some(clock)).await
    }

    /// The server with another built app in front of it (the React original, for the load benchmark).
    pub async fn serving(settings: Settings, app_dir: PathBuf) -> Self {
        Self::serving_on(settings, app_dir, None).await
    }

    async fn serving_on(mut settings: Settings, app_dir: PathBuf, clock: Option<Arc<dyn Clock>>) -> Self {
        let database_url = match std::env::var(TWO_INSTANCES_VARIABLE) {
            Ok(cluster) => Some(fresh_postgres_database(&cluster, "e2e").await.expect("a database of the test's own")),
            Err(_) => None,
        };
        let count = if database_url.is_some() { 2 } else { 1 };
        // As `cargo xtask serve` runs it: plain HTTP on loopback, the cookie without `Secure`.
        settings.cookie_mode = CookieMode::LoopbackHttp;
        let Instances { mut apps, urls, metrics, data_dirs } =
            Instances::start(count, &settings, ConnectionLimits::default(), &app_dir, database_url, clock).await;
        let proxy = if count > 1 { Some(FaultProxy::round_robin(&urls).await) } else { None };
        let base_url = proxy.as_ref().map_or_else(|| urls[0].clone(), |proxy| proxy.base_url.clone());
        Self {
            base_url,
            app: apps.swap_remove(0),
            refresh_cookie: session_contract::LOOPBACK_REFRESH_COOKIE,
            metrics,
            _data_dirs: data_dirs,
            _round_robin: proxy,
            tls_proxy: None,
            public_host: "127.0.0.1".to_owned(),
        }
    }

    /// The production shape of docs/operations.md: two instances on one PostgreSQL database (`E2E_POSTGRES`)
    /// behind nginx terminating TLS, each started with `--public-url https://<public_host>:<port>` and nginx as
    /// `--trusted-proxy`. A browser reaches it as `127.0.0.1`; another name must be in the certificate, and
    /// reaches it through [`TestServer::client`].
    pub async fn behind_tls_proxy(mut settings: Settings, public_host: &str) -> Self {
        let cluster = std::env::var(TWO_INSTANCES_VARIABLE).unwrap_or_else(|_| {
            panic!("{TWO_INSTANCES_VARIABLE} names no PostgreSQL cluster: run these tests with `cargo xtask test`")
        });
        let database_url = fresh_postgres_database(&cluster, "e2e").await.expect("a database of the test's own");
        let port = free_port();
        let public_url = format!("https://{public_host}:{port}");
        settings.public_origin = SiteOrigin::parse(&public_url);
        settings.cookie_mode = CookieMode::for_public_url(&public_url).expect("an https:// public URL");
        let nginx: ipnet::IpNet = "127.0.0.1/32".parse().expect("an address range");
        settings.trusted_proxies = vec![nginx];
        let limits = ConnectionLimits { unlimited_peers: vec![nginx], ..ConnectionLimits::default() };
        let Instances { mut apps, urls, metrics, data_dirs } =
            Instances::start(2, &settings, limits, &built_app_dir(), Some(database_url), None).await;
        let proxy = TlsProxy::start(port, &urls).await;
        Self {
            base_url: public_url,
            app: apps.swap_remove(0),
            refresh_cookie: session_contract::REFRESH_COOKIE,
            metrics,
            _data_dirs: data_dirs,
            _round_robin: None,
            tls_proxy: Some(proxy),
            public_host: public_host.to_owned(),
        }
    }

    /// An HTTP client for `base_url` from outside the browser: behind the TLS proxy, one that trusts the run's CA
    /// and finds the public host at the proxy.
    pub fn client(&self) -> reqwest::Client {
        match &self.tls_proxy {
            Some(proxy) => proxy.client_naming(&self.public_host),
            None => reqwest::Client::new(),
        }
    }

    /// The value of one labelled counter from `GET /metrics`, summed over the instances.
    pub async fn counter(&self, series: &str) -> u64 {
        self.counter_per_instance(series).await.into_iter().sum()
    }

    /// The value of one labelled counter from each instance's `GET /metrics`.
    pub async fn counter_per_instance(&self, series: &str) -> Vec<u64> {
        let mut values = Vec::new();
        for metrics in &self.metrics {
            let text = http_get(metrics).await;
            values.push(
                text.lines()
                    .find_map(|line| line.strip_prefix(series)?.trim().parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("no series {series} in:\n{text}")),
            );
        }
        values
    }

    pub async fn refreshes(&self) -> u64 {
        let mut total = 0;
        for outcome in ["rotated", "grace", "expired", "reused"] {
            total += self.counter(&format!("session_refreshes_total{{outcome=\"{outcome}\"}}")).await;
        }
        total
    }
}

impl Instances {
    async fn start(
        count: usize,
        settings: &Settings,
        limits: ConnectionLimits,
        app_dir: &std::path::Path,
        database_url: Option<String>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Self {
        let mut instances = Self { apps: Vec::new(), urls: Vec::new(), metrics: Vec::new(), data_dirs: Vec::new() };
        for _ in 0..count {
            let data_dir = tempfile::tempdir().expect("a temporary data directory");
            let mut config = ServerConfig::new(data_dir.path());
            config.settings = settings.clone();
            config.static_dir = Some(app_dir.to_owned());
            config.demo_account = true;
            config.database_url = database_url.clone();
            config.signing_secret = Some(SHARED_SECRET.to_owned());
            if let Some(clock) = &clock {
                config.clock = Arc::clone(clock);
            }
            let server = spawn_server(config, limits.clone()).await.expect("the server starts");
            instances.apps.push(server.app);
            instances.urls.push(server.base_url);
            instances.metrics.push(server.metrics_url);
            instances.data_dirs.push(data_dir);
        }
        instances
    }
}

/// An access token's claims, read and not verified (the server wrote them).
pub fn claims_of(access_token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url claims");
    serde_json::from_slice(&claims).expect("JSON claims")
}

/// trunk's output, built by `cargo xtask test` before the e2e suite runs.
fn built_app_dir() -> PathBuf {
    let dir = std::env::var_os("E2E_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    assert!(dir.join("index.html").is_file(), "no built app in {}: run `cargo xtask test`", dir.display());
    dir
}

/// `POST /auth/refresh` with `refresh_token` from outside the browser, as a thief with a copied cookie would;
/// returns the answer's status and error code (`403 Forbidden refresh_token_reused`).
pub async fn refresh_from_outside(server: &TestServer, refresh_token: &str) -> String {
    let answer = server
        .client()
        .post(format!("{}{}", server.base_url, session_contract::paths::REFRESH))
        .header(session_contract::CSRF_HEADER, session_contract::CSRF_HEADER_VALUE)
        .header("cookie", format!("{}={refresh_token}", server.refresh_cookie))
        .send()
        .await
        .expect("the server answers");
    let status = answer.status();
    let body: serde_json::Value =
        serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or(serde_json::Value::Null);
    format!("{status} {}", body["error"].as_str().unwrap_or("(no error code)"))
}

async fn http_get(url: &str) -> String {
    let answer = reqwest::get(url).await.expect("the server answers");
    answer.text().await.expect("a text body")
}

/// A headless browser of the [`Engine`] `E2E_BROWSER` names, driven through its own WebDriver server, which is
/// ended with it.
pub struct Browser {
    pub client: Client,
    pub engine: Engine,
    driver: Child,
}

impl Browser {
    pub async fn launch() -> Self {
        let engine = Engine::current();
        let port = free_port();
        let driver = engine.driver(port).spawn().unwrap_or_else(|error| {
            panic!("cannot start the {engine:?} WebDriver server: {error} (run `cargo xtask setup`)")
        });
        let webdriver_url = format!("http://127.0.0.1:{port}");
        let capabilities = engine.capabilities();
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver_url)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("the {engine:?} WebDriver server did not start: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        Self { client, engine, driver }
    }

    pub async fn text_of(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        element.text().await.expect("element text")
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let waited = self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await;
        match waited {
            Ok(element) => element,
            Err(error) => {
                // What the page showed instead, for a failure that happens only in a full run.
                let url = self.client.current_url().await.map(|url| url.to_string()).unwrap_or_default();
                let shown = self.client.execute("return document.body.innerText.slice(0, 400);", vec![]).await;
                panic!("no {css} appeared: {error}; the page at {url} showed: {:?}", shown.unwrap_or_default())
            }
        }
    }

    /// Clicks the button labelled `label` once there is one, as a user waits for "Refreshing…" to end.
    pub async fn click_button(&self, label: &str) {
        let xpath = format!("//button[text()='{label}']");
        let button = self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::XPath(&xpath)).await;
        button.unwrap_or_else(|error| panic!("no {label} button: {error}")).click().await.expect("clicked");
    }

    /// Opens the app at `base_url`, lands on the sign-in page and signs in.
    pub async fn sign_in(&self, base_url: &str, username: &str, password: &str) {
        self.client.goto(&format!("{base_url}/")).await.expect("the app loads");
        self.wait_for_path("/login").await;
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.wait_for("button[type=submit]").await.click().await.expect("submitted");
        self.wait_for_path("/user").await;
    }

    /// Replaces what the field holds.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    /// The refresh cookie the browser holds (WebDriver sees HttpOnly cookies; scripts never do). It is scoped
    /// to `/auth`, so this visits a page there and comes back to `return_to`.
    pub async fn refresh_cookie(
        &self,
        server: &TestServer,
        return_to: &str,
    ) -> Option<fantoccini::cookies::Cookie<'static>> {
        let auth_page = format!("{}{}/", server.base_url, session_contract::REFRESH_COOKIE_PATH);
        self.client.goto(&auth_page).await.expect("a page under the cookie's path");
        let cookies = self.client.get_all_cookies().await.expect("the cookies");
        self.client.goto(&format!("{}{return_to}", server.base_url)).await.expect("back in the app");
        cookies.into_iter().find(|cookie| cookie.name() == server.refresh_cookie)
    }

    /// Chromium's own offline emulation (ChromeDriver's network conditions): requests fail at once, and the
    /// page gets its `offline` and `online` events.
    pub async fn set_offline(&self, offline: bool) {
        assert!(self.engine.has_devtools(), "network emulation is ChromeDriver's alone");
        self.client.issue_cmd(NetworkConditions { offline }).await.expect("ChromeDriver emulates the network");
    }

    /// The network and CPU of a slower device, for the pages loaded from now on.
    pub async fn throttle(&self, throttling: Throttling) {
        let network = serde_json::json!({
            "offline": false,
            "latency": throttling.latency_ms,
            "downloadThroughput": throttling.download_bytes_per_second,
            "uploadThroughput": throttling.upload_bytes_per_second,
        });
        self.devtools("Network.enable", serde_json::json!({})).await;
        self.devtools("Network.emulateNetworkConditions", network).await;
        self.devtools("Emulation.setCPUThrottlingRate", serde_json::json!({"rate": throttling.cpu_slowdown})).await;
    }

    /// Light or dark, as `prefers-color-scheme` reports it to the page.
    pub async fn prefer_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        let features = serde_json::json!({"features": [{"name": "prefers-color-scheme", "value": value}]});
        self.devtools("Emulation.setEmulatedMedia", features).await;
    }

    /// Runs `script` in every page this tab loads from now on, before the page's own scripts.
    pub async fn before_every_page(&self, script: &str) {
        self.devtools("Page.addScriptToEvaluateOnNewDocument", serde_json::json!({"source": script})).await;
    }

    async fn devtools(&self, command: &'static str, params: serde_json::Value) {
        assert!(self.engine.has_devtools(), "the DevTools protocol is Chromium's alone");
        self.client.issue_cmd(DevTools { command, params }).await.expect("ChromeDriver passes DevTools commands");
    }

    /// The window's size, as a phone's or a desktop's.
    pub async fn set_width(&self, width: u32) {
        self.client.set_window_size(width, 900).await.expect("the window resizes");
    }

    /// A PNG of the viewport, written to `<folder>/<name>.png` where [`SCREENSHOTS_VARIABLE`] names a folder
    /// (`cargo xtask screenshots`); a test run without it writes nothing, so it leaves the tree as it was.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = screenshots_dir() else { return };
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(&dir).expect("the screenshots directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }

    /// localStorage's `accessToken` in the current tab.
    pub async fn stored_access_token(&self) -> Option<String> {
        let stored = self.client.execute("return localStorage.getItem('accessToken')", vec![]).await;
        stored.expect("the script ran").as_str().map(str::to_owned)
    }

    /// The stored access token's value, and whether the app stored it as bound to the device's key.
    pub async fn stored_token(&self) -> Option<(String, bool)> {
        let item: serde_json::Value =
            serde_json::from_str(&self.stored_access_token().await?).expect("the stored token is JSON");
        Some((item["value"].as_str().expect("a token value").to_owned(), item["bound"] == true))
    }

    pub async fn wait_for_path(&self, path: &str) {
        let current = async || self.client.current_url().await.expect("current URL");
        let reached = wait_until(Duration::from_secs(15), POLL, async || current().await.path() == path).await;
        assert!(reached.is_some(), "still on {}, expected {path}", current().await);
    }

    /// Ends the browser's session; the WebDriver server goes when `self` is dropped.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Also when a test fails half-way: no WebDriver server, browser or X server outlives its test.
impl Drop for Browser {
    fn drop(&mut self) {
        if self.engine == Engine::WebKit {
            // xvfb-run leads a process group of its own: the driver, the browser and the X server go with it.
            let group = format!("-{}", self.driver.id());
            let _ = Command::new("kill").args(["-s", "TERM", "--", &group]).status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
