//! ChromeDriver's own commands, beyond WebDriver: network emulation and raw DevTools protocol commands.

/// ChromeDriver's `POST /session/{id}/chromium/network_conditions`.
#[derive(Debug)]
pub struct NetworkConditions {
    pub offline: bool,
}

impl fantoccini::wd::WebDriverCompatibleCommand for NetworkConditions {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/chromium/network_conditions", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let conditions = serde_json::json!({"network_conditions": {
            "offline": self.offline, "latency": 0, "download_throughput": 1_000_000_000, "upload_throughput": 1_000_000_000,
        }});
        (http::Method::POST, Some(conditions.to_string()))
    }
}

/// ChromeDriver's `POST /session/{id}/goog/cdp/execute`: one DevTools protocol command.
#[derive(Debug)]
pub struct DevTools {
    pub command: &'static str,
    pub params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({"cmd": self.command, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A slower network and CPU than this machine's, as DevTools emulates them: each request `latency_ms` later, at
/// most the given bytes a second each way, and the page's CPU `cpu_slowdown` times slower.
#[derive(Debug, Clone, Copy)]
pub struct Throttling {
    pub latency_ms: f64,
    pub download_bytes_per_second: f64,
    pub upload_bytes_per_second: f64,
    pub cpu_slowdown: f64,
}

impl Throttling {
    /// Lighthouse's mobile figures (`mobileSlow4G`: 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, counted in
    /// 1,024s as Lighthouse does; a CPU four times slower), applied as they are: DevTools adds the latency once
    /// per request.
    pub const LIGHTHOUSE_MOBILE: Self = Self {
        latency_ms: 150.0,
        download_bytes_per_second: 1.6 * 1024.0 * 1024.0 / 8.0,
        upload_bytes_per_second: 750.0 * 1024.0 / 8.0,
        cpu_slowdown: 4.0,
    };

    /// Chrome DevTools' own "Slow 4G" preset, which stands for the same network under request-level throttling
    /// (the latency 3.75 times Lighthouse's round trip, 90% of 1.6 Mbit/s and 750 kbit/s counted in thousands),
    /// with the same CPU.
    pub const DEVTOOLS_SLOW_4G: Self = Self {
        latency_ms: 150.0 * 3.75,
        download_bytes_per_second: 1.6e6 / 8.0 * 0.9,
        upload_bytes_per_second: 750e3 / 8.0 * 0.9,
        cpu_slowdown: 4.0,
    };
}
