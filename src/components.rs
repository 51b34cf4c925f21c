mod already_signed_in;
mod offline_banner;
mod session_expired_banner;
mod storage_note;

pub use already_signed_in::AlreadySignedIn;
pub use offline_banner::{OfflineBanner, Online};
pub use session_expired_banner::{SessionExpiredBanner, SessionNotice};
pub use storage_note::StorageNote;
