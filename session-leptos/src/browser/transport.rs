//! Fetch through gloo-net, with a deadline per request and an abort when the caller drops it. The request's
//! headers (the CSRF marker among them) are sent as the session client made them.

mod deadlines;

use std::rc::Rc;
use std::time::Duration;

use gloo_net::http::{Headers, Method as HttpMethod, RequestBuilder};
use session_core::{Method, RequestRecipe, Response, Transport, TransportError};
use web_sys::RequestCredentials;

use deadlines::Deadlines;

use super::clock::whole_millis;

/// The same request with fetch's `keepalive`, which neither gloo-net's builder nor web-sys' `RequestInit`
/// offers: the init dictionary is a plain object, so it is set as a property.
fn kept_alive(request: gloo_net::http::Request) -> Option<gloo_net::http::Request> {
    let init = web_sys::RequestInit::new();
    js_sys::Reflect::set(&init, &"keepalive".into(), &true.into()).ok()?;
    let request: web_sys::Request = request.into();
    web_sys::Request::new_with_request_and_init(&request, &init).ok().map(gloo_net::http::Request::from)
}

/// The [`Transport`] of a browser: `fetch` with the page's cookies (`credentials: include`), a deadline per
/// request, and an abort when the caller drops the request.
pub struct FetchTransport {
    base_url: String,
    timeout_ms: u32,
    deadlines: Rc<Deadlines>,
}

impl FetchTransport {
    /// `base_url` is prefixed to each request's path: empty for the app's own origin, or an API origin that
    /// allows this one by CORS. A request without a deadline of its own fails as a timeout after `timeout`.
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        Self { base_url: base_url.into(), timeout_ms: whole_millis(timeout), deadlines: Rc::default() }
    }
}

impl Transport for FetchTransport {
    /// The base URL and the path; with the app's own origin (an empty base), the page's origin.
    fn url(&self, path: &str) -> String {
        if self.base_url.is_empty() {
            let origin = web_sys::window().and_then(|window| window.location().origin().ok()).unwrap_or_default();
            format!("{origin}{path}")
        } else {
            format!("{}{path}", self.base_url)
        }
    }

    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let method = http_method(request.method).ok_or(TransportError::Rejected)?;
        let timeout = request.timeout.map_or(self.timeout_ms, whole_millis);
        // Set one by one on the browser's own Headers, which refuses a bad name or value with an error (gloo's
        // builder would throw): the request is then not sent, and the caller hears why.
        let headers = web_sys::Headers::new().map_err(|_| TransportError::Rejected)?;
        let bearer = bearer.map(|token| ("Authorization".to_owned(), format!("Bearer {token}")));
        let accept = ("Accept".to_owned(), "application/json".to_owned());
        for (name, value) in std::iter::once(&accept).chain(&request.headers).chain(bearer.as_ref()) {
            headers.set(name, value).map_err(|_| TransportError::Rejected)?;
        }
        let abort = self.deadlines.track(timeout).ok_or(TransportError::Network)?;
        let builder = RequestBuilder::new(&format!("{}{}", self.base_url, request.path))
            .method(method)
            .credentials(RequestCredentials::Include)
            .headers(Headers::from_raw(headers))
            .abort_signal(Some(&abort.signal()));
        let prepared = match &request.body {
            Some(body) => builder.body(js_sys::Uint8Array::from(body.as_slice())),
            None => builder.build(),
        };
        // The browser refuses to build some requests (a body on a GET, a URL it cannot parse): not sent, so not
        // a network failure that a retry could cure.
        let mut prepared = prepared.map_err(|_| TransportError::Rejected)?;
        if request.keepalive {
            prepared = kept_alive(prepared).ok_or(TransportError::Rejected)?;
        }
        let no_answer = |_| if abort.timed_out() { TransportError::Timeout } else { TransportError::Network };
        let response = prepared.send().await.map_err(no_answer)?;
        let status = response.status();
        let headers = response.headers();
        let body = response.binary().await.map_err(no_answer)?;
        abort.finish();
        Ok(headers.entries().fold(Response::new(status, body), |answer, (name, value)| answer.with_header(name, value)))
    }
}

/// gloo-net's name for the method; `None` for one it does not know (a newer session-core's), which is refused
/// rather than sent as something else.
fn http_method(method: Method) -> Option<HttpMethod> {
    Some(match method {
        Method::Get => HttpMethod::GET,
        Method::Head => HttpMethod::HEAD,
        Method::Post => HttpMethod::POST,
        Method::Put => HttpMethod::PUT,
        Method::Patch => HttpMethod::PATCH,
        Method::Delete => HttpMethod::DELETE,
        Method::Options => HttpMethod::OPTIONS,
        _ => return None,
    })
}
