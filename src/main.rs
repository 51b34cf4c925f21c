fn main() {
    // Debug builds say what panicked; release builds (panic = "abort") trap with `unreachable` and keep the
    // hook's formatting code out of the download (issue 22: 0.9 KB brotli).
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(session_app::App);
}
