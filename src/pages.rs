mod login_page;
mod not_found_page;
mod user_page;

pub use login_page::LoginPage;
pub use not_found_page::NotFoundPage;
pub use user_page::UserPage;
