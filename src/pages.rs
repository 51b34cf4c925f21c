mod login_page;
mod user_page;

pub use login_page::LoginPage;
pub use user_page::UserPage;
