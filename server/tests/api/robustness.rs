//! Robustness: no input gets a 500 or a panic, and the logs name events without secrets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use proptest::prelude::*;
use session_server::{DEMO_PASSWORD, ServerConfig, Settings, build_app};
use tower::ServiceExt;

use crate::support::{TestServer, error_code};

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "cookie",
    "content-type",
    "content-length",
    "origin",
    "host",
    "x-requested-with",
    "sec-fetch-site",
    "sec-fetch-mode",
    "user-agent",
    "accept",
];
const PATHS: &[&str] =
    &["/auth/login", "/auth/refresh", "/auth/logout", "/user", "/user/sessions", "/user/sessions/x", "/metrics", "/"];

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::OPTIONS, Method::HEAD])
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(PATHS).prop_map(str::to_owned),
        "/(auth|user)/[a-zA-Z0-9%._~{}-]{0,24}(\\?[a-z=&%]{0,16})?",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (any::<String>(), any::<String>()).prop_map(|(username, password)| {
            serde_json::json!({"username": username, "password": password}).to_string().into_bytes()
        }),
        any::<String>().prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "(Bearer|bearer|Basic)? ?[A-Za-z0-9._=-]{0,200}".prop_map(String::into_bytes),
        "__Secure-refresh=[A-Za-z0-9_;= -]{0,80}".prop_map(String::into_bytes),
        Just(b"application/json".to_vec()),
        Just(b"fetch".to_vec()),
    ];
    prop::collection::vec((prop::sample::select(HEADER_NAMES), value), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_request_gets_a_server_error_or_a_panic_and_every_refusal_says_why_in_json(
        method in method(),
        path in path(),
        headers in headers(),
        body in body(),
        // Each case from its own address: on one address, the sign-in limit would answer every case after the
        // thirtieth with a 429 before any handler ran.
        peer in any::<[u8; 4]>(),
    ) {
        let (runtime, router, _) = shared_server();
        let status = runtime.block_on(async {
            let mut request = Request::builder().method(method.clone()).uri(&path);
            for (name, value) in &headers {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    request = request.header(HeaderName::from_static(name), value);
                }
            }
            let Ok(mut request) = request.body(Body::from(body)) else { return None };
            request.extensions_mut().insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            Some((status, body))
        });
        if let Some((status, body)) = status {
            prop_assert!(!status.is_server_error(), "{status}");
            // Every refusal says why in the contract's JSON (a HEAD answer has no body to say it in).
            if status.is_client_error() && method != Method::HEAD {
                let error: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                let code = error.as_ref().and_then(|error| error["error"].as_str());
                prop_assert!(code.is_some(), "{status} {path}: {}", String::from_utf8_lossy(&body));
            }
        }
    }
}

/// One server for every case (building one hashes the demo password), with the runtime its database pool needs.
fn shared_server() -> &'static (tokio::runtime::Runtime, axum::Router, tempfile::TempDir) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router, tempfile::TempDir)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(data_dir.path());
        config.demo_account = true;
        let (_, router) = runtime.block_on(build_app(config)).unwrap();
        (runtime, router, data_dir)
    })
}

/// Collects everything the server logs, at every level.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reuse_is_logged_with_session_and_user_and_no_log_holds_a_token_or_password() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(Settings::default()).await;
    let session = server.sign_in().await;
    let child = server.rotate(&session.refresh_token).await;
    server.clock.advance(server.app.settings.refresh_grace + 1);
    let reused = server.refresh(&session.refresh_token).await;
    assert_eq!(error_code(reused).await.1, "refresh_token_reused");
    let _ = server.login_as("demo", "a wrong password to keep out of logs").await;
    let _ = server.http.get(format!("{}/user?access_token={}", server.base, session.access_token)).send().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let reuse_line = text.lines().find(|line| line.contains("refresh_reuse_detected")).expect("the event is logged");
    assert!(reuse_line.contains("session_id=") && reuse_line.contains("user_id=1"), "{reuse_line}");
    let secrets =
        [&session.refresh_token, &child, &session.access_token, DEMO_PASSWORD, "a wrong password to keep out of logs"];
    for secret in secrets {
        assert!(!text.contains(secret), "a secret is in the logs:\n{text}");
    }
}
