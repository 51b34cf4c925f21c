mod offline_banner;
mod session_expired_banner;

pub use offline_banner::{OfflineBanner, Online};
pub use session_expired_banner::{SessionExpiredBanner, SessionNotice};
