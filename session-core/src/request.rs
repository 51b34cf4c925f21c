//! Requests kept as data and what the transport answers.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use session_contract::{CSRF_HEADER, CSRF_HEADER_VALUE};

use crate::error::{DecodeError, SessionError, json_text};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`: reads.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`: sign-in, refresh, sign-out, and whatever an app posts.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`: signing out another session, and whatever an app deletes.
    Delete,
    /// `OPTIONS`.
    Options,
}

impl Method {
    /// The method as HTTP spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }

    /// Whether it changes nothing on the server (RFC 9110 §9.2.1): such a request needs no CSRF marker.
    pub const fn is_safe(self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Options)
    }
}

/// Whether a request carries the access token (and so may be renewed and replayed after a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// With the access token.
    Bearer,
    /// Without it (sign-in, refresh, sign-out).
    Anonymous,
}

/// A request kept as data, so that its replay after a refresh is identical but for the Authorization header.
///
/// Built with [`RequestRecipe::new`] or a method's shortcut; every request that is not [safe](Method::is_safe)
/// carries the contract's CSRF marker header from the start, so no transport has to remember it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecipe {
    /// The HTTP method.
    pub method: Method,
    /// The path (and query), appended to the transport's base URL.
    pub path: String,
    /// Headers to send as they are, besides `Authorization` (the client's) and the browser's own.
    pub headers: Vec<(String, String)>,
    /// The body, encoded once: the replay sends the very same bytes.
    pub body: Option<Vec<u8>>,
    /// Whether it carries the access token.
    pub auth: Auth,
    /// A deadline of its own, instead of the transport's default.
    pub timeout: Option<Duration>,
    /// To be delivered even if the page is closed right after (fetch's `keepalive`): the sign-out.
    pub keepalive: bool,
}

impl RequestRecipe {
    /// A Bearer request; one that is not safe carries the CSRF marker.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let headers =
            if method.is_safe() { Vec::new() } else { vec![(CSRF_HEADER.to_owned(), CSRF_HEADER_VALUE.to_owned())] };
        Self { method, path: path.into(), headers, body: None, auth: Auth::Bearer, timeout: None, keepalive: false }
    }

    /// A Bearer `GET`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    /// A Bearer `POST`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }

    /// A Bearer `PUT`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }

    /// A Bearer `PATCH`.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::Patch, path)
    }

    /// A Bearer `DELETE`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }

    /// With `body` encoded as JSON, and `Content-Type: application/json`.
    ///
    /// # Errors
    /// [`SessionError::Encode`] when the value cannot be JSON (a map with non-string keys, a failing `Serialize`).
    pub fn with_json(self, body: &impl Serialize) -> Result<Self, SessionError> {
        let bytes = serde_json::to_vec(body).map_err(|_| SessionError::Encode)?;
        Ok(Self { body: Some(bytes), ..self.with_header("content-type", "application/json") })
    }

    /// With one more header (a header of the same name is replaced).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Given up as [`TransportError::Timeout`](crate::TransportError::Timeout) after `timeout`.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout: Some(timeout), ..self }
    }

    /// Delivered even if the page closes right after.
    pub fn keepalive(self) -> Self {
        Self { keepalive: true, ..self }
    }

    /// Sent without the access token: never renewed or replayed.
    pub fn anonymous(self) -> Self {
        Self { auth: Auth::Anonymous, ..self }
    }

    /// The value of the header `name` (any case), if it has one.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// This request with the contract's CSRF marker, if it is not safe and its marker went missing or changed
    /// after it was made (its method or headers set by hand); otherwise `None`. The client sends every request
    /// through it.
    pub(crate) fn with_marker_if_missing(&self) -> Option<Self> {
        (!self.method.is_safe() && self.header(CSRF_HEADER) != Some(CSRF_HEADER_VALUE))
            .then(|| self.clone().with_header(CSRF_HEADER, CSRF_HEADER_VALUE))
    }
}

/// An HTTP answer, whatever its status. Built with [`Response::new`] and [`Response::with_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers the transport could read (in a browser, the CORS-safelisted and exposed ones).
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl Response {
    /// An answer without headers (a fake server's, or a test's).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// With one more header, as the transport read it.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The value of the header `name` (any case), if it has one.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as `T`.
    ///
    /// # Errors
    /// [`SessionError::Decode`], which says where the body stopped fitting but never repeats any of it (a malformed
    /// sign-in answer may hold the start of a token).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, SessionError> {
        let text = json_text(&self.body).map_err(SessionError::Decode)?;
        serde_json::from_str(text).map_err(|error| SessionError::Decode(DecodeError::from(&error)))
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(existing, _)| existing.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_are_what_their_names_say() {
        let table = [
            (RequestRecipe::get("/a"), Method::Get, Auth::Bearer),
            (RequestRecipe::post("/a"), Method::Post, Auth::Bearer),
            (RequestRecipe::put("/a"), Method::Put, Auth::Bearer),
            (RequestRecipe::patch("/a"), Method::Patch, Auth::Bearer),
            (RequestRecipe::delete("/a"), Method::Delete, Auth::Bearer),
            (RequestRecipe::post("/a").anonymous(), Method::Post, Auth::Anonymous),
        ];
        for (recipe, method, auth) in table {
            assert_eq!((recipe.method, recipe.auth, recipe.path.as_str()), (method, auth, "/a"));
            assert_eq!((recipe.body, recipe.timeout, recipe.keepalive), (None, None, false));
        }
        let recipe = RequestRecipe::post("/a").with_json(&[1, 2]).unwrap().with_timeout(Duration::from_millis(5));
        assert_eq!(recipe.body.as_deref(), Some(&b"[1,2]"[..]));
        assert_eq!(recipe.header("Content-Type"), Some("application/json"));
        assert_eq!(recipe.timeout, Some(Duration::from_millis(5)));
        assert!(RequestRecipe::post("/a").keepalive().keepalive);
    }

    #[test]
    fn methods_are_spelled_as_http_spells_them() {
        let table = [
            (Method::Get, "GET"),
            (Method::Head, "HEAD"),
            (Method::Post, "POST"),
            (Method::Put, "PUT"),
            (Method::Patch, "PATCH"),
            (Method::Delete, "DELETE"),
            (Method::Options, "OPTIONS"),
        ];
        for (method, spelled) in table {
            assert_eq!(method.as_str(), spelled);
        }
    }

    #[test]
    fn every_request_that_is_not_safe_carries_the_csrf_marker_and_only_those() {
        for method in
            [Method::Get, Method::Head, Method::Options, Method::Post, Method::Put, Method::Patch, Method::Delete]
        {
            let recipe = RequestRecipe::new(method, "/a");
            let marker = recipe.header(CSRF_HEADER);
            assert_eq!(marker, (!method.is_safe()).then_some(CSRF_HEADER_VALUE), "{}", method.as_str());
        }
        let anonymous = RequestRecipe::post("/auth/login").anonymous();
        assert_eq!(anonymous.header(CSRF_HEADER), Some(CSRF_HEADER_VALUE), "sign-in and refresh too");
    }

    #[test]
    fn a_body_that_is_not_the_json_expected_says_how_and_where_without_its_text() {
        use crate::error::DecodeErrorKind::{Shape, Syntax, Truncated};
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[serde(rename = "a")]
            _a: String,
        }
        let table: [(&[u8], _); 9] = [
            (b"{\"a\": 1}", (Shape, 1, 7)),
            (b"{\"a\": \"x\"", (Truncated, 1, 9)),
            (b"<html>", (Syntax, 1, 1)),
            // JSON is UTF-8 (RFC 8259): a byte that is not is a syntax error where it stands, never a guess.
            (b"{\"a\":\n \"\xff\"}", (Syntax, 2, 3)),
            (b"\xfe{\"a\": \"x\"}", (Syntax, 1, 1)),
            // Even in a member the body type ignores (serde_json's byte reader never looked at it): the whole body
            // is UTF-8 or it is not JSON.
            (b"{\"a\":\"x\",\"z\":\"\xff\"}", (Syntax, 1, 15)),
            // Cut in the middle of a character: a truncated body, inside a string or not.
            (b"{\"a\": \"\xc3", (Truncated, 1, 8)),
            (b"{\"a\":\"x\"}\xc3", (Truncated, 1, 10)),
            (b"", (Truncated, 1, 0)),
        ];
        for (body, (kind, line, column)) in table {
            let decoded = Response::new(200, body.to_vec()).json::<Body>();
            let Err(SessionError::Decode(error)) = decoded else { panic!("{body:?} decoded as {decoded:?}") };
            assert_eq!((error.kind, error.line, error.column), (kind, line, column), "{body:?}");
        }
    }

    #[test]
    fn headers_are_found_in_any_case_and_replaced_not_repeated() {
        let recipe = RequestRecipe::get("/a").with_header("X-Trace", "1").with_header("x-trace", "2");
        assert_eq!(recipe.headers, [("x-trace".to_owned(), "2".to_owned())]);
        assert_eq!(recipe.header("X-TRACE"), Some("2"));
        let response = Response::new(429, Vec::new()).with_header("Retry-After", "5");
        assert_eq!(response.header("retry-after"), Some("5"));
        assert_eq!(Response::new(204, Vec::new()).header("retry-after"), None);
    }
}
