//! Fetch through gloo-net, with a deadline per request and an abort when the caller drops it.

mod deadlines;

use std::rc::Rc;

use gloo_net::http::{Method as HttpMethod, RequestBuilder};
use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE};
use session_core::{Method, RequestRecipe, Response, Transport, TransportError};
use web_sys::RequestCredentials;

use deadlines::Deadlines;

/// The same request with fetch's `keepalive`, which neither gloo-net's builder nor web-sys' `RequestInit`
/// offers: the init dictionary is a plain object, so it is set as a property.
fn kept_alive(request: gloo_net::http::Request) -> Option<gloo_net::http::Request> {
    let init = web_sys::RequestInit::new();
    js_sys::Reflect::set(&init, &"keepalive".into(), &true.into()).ok()?;
    let request: web_sys::Request = request.into();
    web_sys::Request::new_with_request_and_init(&request, &init).ok().map(gloo_net::http::Request::from)
}

pub struct FetchTransport {
    base_url: String,
    timeout_ms: u32,
    deadlines: Rc<Deadlines>,
}

impl FetchTransport {
    /// `base_url` is prefixed to each request's path: empty for the app's own origin, or an API origin that
    /// allows this one by CORS.
    pub fn new(base_url: impl Into<String>, timeout_ms: u32) -> Self {
        Self { base_url: base_url.into(), timeout_ms, deadlines: Rc::default() }
    }
}

impl Transport for FetchTransport {
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Delete => HttpMethod::DELETE,
        };
        let abort =
            self.deadlines.track(request.timeout_ms.unwrap_or(self.timeout_ms)).ok_or(TransportError::Network)?;
        let mut builder = RequestBuilder::new(&format!("{}{}", self.base_url, request.path))
            .method(method)
            .credentials(RequestCredentials::Include)
            .header("Accept", "application/json")
            .abort_signal(Some(&abort.signal()));
        if request.method != Method::Get {
            builder = builder.header(CSRF_HEADER, CSRF_HEADER_VALUE);
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
        let mut prepared = prepared.map_err(|_| TransportError::Network)?;
        if request.keepalive {
            prepared = kept_alive(prepared).ok_or(TransportError::Network)?;
        }
        let no_answer = |_| if abort.timed_out() { TransportError::Timeout } else { TransportError::Network };
        let response = prepared.send().await.map_err(no_answer)?;
        let status = response.status();
        let body = response.binary().await.map_err(no_answer)?;
        abort.finish();
        Ok(Response { status, body })
    }
}
