mod already_signed_in;
mod device_name;
mod offline_banner;
mod page_heading;
mod profile;
mod request_notice;
mod session_expired_banner;
mod sessions_list;
mod storage_note;

pub use already_signed_in::AlreadySignedIn;
pub use offline_banner::{OfflineBanner, Online};
pub use page_heading::PageHeading;
pub use profile::Profile;
pub use request_notice::RequestNotice;
pub use session_expired_banner::{SessionExpiredBanner, SessionNotice};
pub use sessions_list::SessionsList;
pub use storage_note::StorageNote;
