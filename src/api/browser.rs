//! The session core's browser adapters: fetch through gloo-net, the token in localStorage, `Date.now()`.

use gloo_net::http::{Method as HttpMethod, RequestBuilder};
use serde::{Deserialize, Serialize};
use web_sys::{AbortSignal, RequestCredentials};

use super::session::{
    AccessToken, Clock, Method, RequestRecipe, Response, SessionClient, TokenStore, Transport, TransportError,
};

/// API.md: the access token lives in localStorage under this key.
pub const ACCESS_TOKEN_KEY: &str = "accessToken";
/// When the token expires by this browser's clock, and its lifetime, for renewing ahead of expiry.
pub const ACCESS_TOKEN_EXPIRY_KEY: &str = "accessTokenExpiry";
const DEFAULT_TIMEOUT_MS: u32 = 15_000;

pub type Api = SessionClient<FetchTransport, LocalStorageTokens, BrowserClock>;

pub fn api() -> Api {
    SessionClient::new(FetchTransport { timeout_ms: DEFAULT_TIMEOUT_MS }, LocalStorageTokens, BrowserClock)
}

pub struct FetchTransport {
    pub timeout_ms: u32,
}

impl Transport for FetchTransport {
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Delete => HttpMethod::DELETE,
        };
        let timeout = AbortSignal::timeout_with_u32(self.timeout_ms);
        let mut builder = RequestBuilder::new(&request.path)
            .method(method)
            .credentials(RequestCredentials::Include)
            .header("Accept", "application/json")
            .abort_signal(Some(&timeout));
        if request.method != Method::Get {
            builder = builder.header("X-Requested-With", "fetch");
        }
        if let Some(token) = bearer {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        }
        let prepared = match &request.json_body {
            Some(body) => {
                builder.header("Content-Type", "application/json").body(js_sys::Uint8Array::from(body.as_slice()))
            }
            None => builder.build(),
        };
        let no_answer = |_| if timeout.aborted() { TransportError::Timeout } else { TransportError::Network };
        let response = prepared.map_err(|_| TransportError::Network)?.send().await.map_err(no_answer)?;
        let status = response.status();
        let body = response.binary().await.map_err(no_answer)?;
        Ok(Response { status, body })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredExpiry {
    expires_at: f64,
    lifetime: f64,
}

pub struct LocalStorageTokens;

impl LocalStorageTokens {
    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }
}

impl TokenStore for LocalStorageTokens {
    fn load(&self) -> Option<AccessToken> {
        let storage = Self::storage()?;
        let value = storage.get_item(ACCESS_TOKEN_KEY).ok().flatten().filter(|value| !value.is_empty())?;
        // A token stored without its expiry (by an older build or by hand) is used until the server refuses it.
        let expiry = storage
            .get_item(ACCESS_TOKEN_EXPIRY_KEY)
            .ok()
            .flatten()
            .and_then(|text| serde_json::from_str::<StoredExpiry>(&text).ok())
            .unwrap_or(StoredExpiry { expires_at: f64::INFINITY, lifetime: 0.0 });
        Some(AccessToken { value, expires_at_ms: expiry.expires_at, lifetime_ms: expiry.lifetime })
    }

    fn save(&self, token: &AccessToken) {
        let Some(storage) = Self::storage() else { return };
        let expiry = StoredExpiry { expires_at: token.expires_at_ms, lifetime: token.lifetime_ms };
        let _ = storage.set_item(ACCESS_TOKEN_KEY, &token.value);
        if let Ok(text) = serde_json::to_string(&expiry) {
            let _ = storage.set_item(ACCESS_TOKEN_EXPIRY_KEY, &text);
        }
    }

    fn clear(&self) {
        let Some(storage) = Self::storage() else { return };
        let _ = storage.remove_item(ACCESS_TOKEN_KEY);
        let _ = storage.remove_item(ACCESS_TOKEN_EXPIRY_KEY);
    }
}

pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}
