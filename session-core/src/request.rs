//! Requests kept as data and what the transport answers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, DecodeError};

/// The HTTP methods of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads.
    Get,
    /// Sign-in, refresh, sign-out.
    Post,
    /// Signing out another session.
    Delete,
}

/// Whether a request carries the access token (and so may be renewed and replayed after a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// With the access token.
    Bearer,
    /// Without it (sign-in, refresh, sign-out).
    Anonymous,
}

/// A request kept as data, so that its replay after a refresh is identical but for the Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecipe {
    /// The HTTP method.
    pub method: Method,
    /// The path (and query), appended to the transport's base URL.
    pub path: String,
    /// The JSON body, encoded once: the replay sends the very same bytes.
    pub json_body: Option<Vec<u8>>,
    /// Whether it carries the access token.
    pub auth: Auth,
    /// A deadline of its own, shorter than the transport's default.
    pub timeout_ms: Option<u32>,
    /// To be delivered even if the page is closed right after (fetch's `keepalive`): the sign-out.
    pub keepalive: bool,
}

impl RequestRecipe {
    /// A Bearer `GET`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            path: path.into(),
            json_body: None,
            auth: Auth::Bearer,
            timeout_ms: None,
            keepalive: false,
        }
    }

    /// A Bearer `POST`.
    pub fn post(path: impl Into<String>) -> Self {
        Self { method: Method::Post, ..Self::get(path) }
    }

    /// A Bearer `DELETE`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self { method: Method::Delete, ..Self::get(path) }
    }

    /// With `body` encoded as JSON.
    ///
    /// # Errors
    /// [`ApiError::Encode`] when the value cannot be JSON (a map with non-string keys, a failing `Serialize`).
    pub fn with_json(self, body: &impl Serialize) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|_| ApiError::Encode)?;
        Ok(Self { json_body: Some(bytes), ..self })
    }

    /// Given up as [`TransportError::Timeout`] after `timeout_ms`.
    pub fn with_timeout(self, timeout_ms: u32) -> Self {
        Self { timeout_ms: Some(timeout_ms), ..self }
    }

    /// Delivered even if the page closes right after.
    pub fn keepalive(self) -> Self {
        Self { keepalive: true, ..self }
    }

    /// Sent without the access token: never renewed or replayed.
    pub fn anonymous(self) -> Self {
        Self { auth: Auth::Anonymous, ..self }
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as `T`.
    ///
    /// # Errors
    /// [`ApiError::Decode`], which says where the body stopped fitting but never repeats any of it (a malformed
    /// sign-in answer may hold the start of a token).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|error| ApiError::Decode(DecodeError::from(&error)))
    }
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Offline, DNS, connection refused or reset, CORS.
    #[error("no answer from the server")]
    Network,
    /// The transport's deadline passed first.
    #[error("the server did not answer in time")]
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_are_what_their_names_say() {
        let table = [
            (RequestRecipe::get("/a"), Method::Get, Auth::Bearer),
            (RequestRecipe::post("/a"), Method::Post, Auth::Bearer),
            (RequestRecipe::delete("/a"), Method::Delete, Auth::Bearer),
            (RequestRecipe::post("/a").anonymous(), Method::Post, Auth::Anonymous),
        ];
        for (recipe, method, auth) in table {
            assert_eq!((recipe.method, recipe.auth, recipe.path.as_str()), (method, auth, "/a"));
            assert_eq!((recipe.json_body, recipe.timeout_ms, recipe.keepalive), (None, None, false));
        }
        let recipe = RequestRecipe::post("/a").with_json(&[1, 2]).unwrap().with_timeout(5);
        assert_eq!(recipe.json_body.as_deref(), Some(&b"[1,2]"[..]));
        assert_eq!(recipe.timeout_ms, Some(5));
        assert!(RequestRecipe::post("/a").keepalive().keepalive);
    }
}
