use miniserde::{Deserialize, json};

/// What went wrong with an API call, in the terms a page needs to decide what to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server refused the access token even after a refresh.
    #[error("You are not signed in.")]
    Unauthorized,
    /// The refresh was refused (403): the session is over and the user must sign in again.
    #[error("Your session has expired. Please sign in again.")]
    SessionExpired,
    /// No response at all: offline, DNS, connection refused, CORS.
    #[error("Check your network connection.")]
    Network,
    #[error("The server took too long to answer. Please try again.")]
    Timeout,
    #[error("Server error. Please try again later.")]
    Server { status: u16 },
    /// Any other non-success answer, with the server's error code and message when it sent them.
    #[error("{message}")]
    Status { status: u16, code: String, message: String },
    #[error("Unexpected answer from the server: {0}")]
    Decode(String),
}

/// API.md's error body: `{"error": "<code>", "message": "<text for people>"}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

impl ApiError {
    /// The error for a non-success status; 401 and the refresh's 403 are decided by the caller.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        if status >= 500 {
            return Self::Server { status };
        }
        let parsed = std::str::from_utf8(body).ok().and_then(|text| json::from_str::<ErrorBody>(text).ok());
        match parsed {
            Some(ErrorBody { error, message }) => Self::Status { status, code: error, message },
            None => Self::Status { status, code: String::new(), message: format!("The request failed ({status}).") },
        }
    }
}
