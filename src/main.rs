#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(session_app::App);
}

// The app runs in the browser only; natively this crate exists for `cargo test` of its session core.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("session-app runs in the browser: `cargo xtask serve` builds and serves it.");
}
