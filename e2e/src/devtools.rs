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
