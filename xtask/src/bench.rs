//! `cargo xtask bench`: what the app costs each user to download and to start, how fast the server answers, and
//! what the session client adds to a request.

mod load;
mod react;
mod size;

use std::process::Stdio;

use crate::run::{Guard, command, status};
use crate::setup;

pub fn run(part: Option<&str>) -> Result<(), String> {
    match part {
        Some("size") => size::run(),
        Some("load") => load::run(),
        Some("server") => server(),
        Some("client") => client(),
        None => size::run().and_then(|()| load::run()).and_then(|()| server()).and_then(|()| client()),
        Some(other) => Err(format!("no benchmark {other:?}: name size, load, server or client")),
    }
}

/// `tests/client_bench.rs` in headless Chromium against the release server. The test page and the API are two
/// origins on 127.0.0.1 (same site, so the refresh cookie works); the server allows the page's origin by CORS.
fn client() -> Result<(), String> {
    setup::all()?;
    status(command("cargo", &["build", "--release", "--quiet", "--package", "session-server"]))?;
    let (api_port, page_port) = (free_port()?, free_port()?);
    let data_dir = std::env::temp_dir().join(format!("session-bench-{}", std::process::id()));
    let server = command("target/release/session-server", &[])
        .args([
            "--addr",
            &format!("127.0.0.1:{api_port}"),
            "--allowed-origin",
            &format!("http://127.0.0.1:{page_port}"),
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--static-dir", "no-app-needed"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start the server: {error}"))?;
    let _server = Guard(server);
    wait_for_port(api_port)?;
    let mut bench = command(
        "wasm-pack",
        &[
            "test",
            "--release",
            "--headless",
            "--chrome",
            "--mode",
            "no-install",
            ".",
            "--test",
            "client_bench",
            "--features",
            "client-bench",
        ],
    );
    bench
        .args(["--", "--nocapture"])
        .env("BENCH_API", format!("http://127.0.0.1:{api_port}"))
        .env("WASM_BINDGEN_TEST_ADDRESS", format!("127.0.0.1:{page_port}"))
        .env("CHROMEDRIVER", crate::suite::which("chromedriver"));
    let outcome = status(bench);
    let _ = std::fs::remove_dir_all(&data_dir);
    outcome
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    Ok(listener.local_addr().map_err(|error| error.to_string())?.port())
}

fn wait_for_port(port: u16) -> Result<(), String> {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("the server did not listen on port {port}"))
}

/// `server/benches/http.rs`: wrk against `GET /user` and `POST /auth/refresh` beside constant handlers.
fn server() -> Result<(), String> {
    setup::wrk()?;
    status(command("cargo", &["bench", "--package", "session-server", "--bench", "http"]))
}
