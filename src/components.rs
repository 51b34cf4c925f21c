mod session_expired_banner;

pub use session_expired_banner::{SessionExpiredBanner, SessionNotice};
