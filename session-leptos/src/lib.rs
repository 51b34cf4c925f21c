#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

pub mod browser;
mod context;
mod query;
#[cfg(feature = "testing")]
pub mod testing;
mod user;

pub use browser::{BrowserClient, browser_client};
pub use context::{
    SessionNotice, provide_session, use_online, use_session, use_session_event, use_session_notice, use_sign_in,
    use_sign_out,
};
pub use query::{FetchStatus, Query, QueryClient, QueryOptions, QueryState, use_query, use_query_client};
pub use user::{SESSIONS, USER, revoke_session, use_sessions, use_user};
