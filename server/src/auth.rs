//! The rules of authentication, free of HTTP: tokens and their rotation, passwords, the throttle, device
//! cookies, who the client is, the refresh cookie's mode, origins, and the cache of live sessions. What they
//! read and write goes through [`Store`](crate::store::Store); none of them knows a request or an answer.

pub mod client_address;
pub mod cookie_mode;
pub mod devices;
pub mod dpop;
pub mod live_sessions;
pub mod passwords;
pub mod rotation;
pub mod site_origin;
pub mod throttle;
pub mod tokens;
