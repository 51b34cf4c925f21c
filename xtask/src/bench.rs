//! `cargo xtask bench`: what the app costs each user to download, and how fast the server answers.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::run::{Guard, command, status, trunk_release_build};
use crate::setup;
use crate::workspace_root;

pub fn run(part: Option<&str>) -> Result<(), String> {
    match part {
        Some("size") => sizes(),
        Some("server") => server(),
        Some("client") => client(),
        None => sizes().and_then(|()| server()).and_then(|()| client()),
        Some(other) => Err(format!("no benchmark {other:?}: name size, server or client")),
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

fn sizes() -> Result<(), String> {
    trunk_release_build()?;
    let dist = workspace_root().join("dist");
    let mut entries: Vec<_> = std::fs::read_dir(&dist)
        .map_err(|error| format!("cannot read {}: {error}", dist.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    let (mut raw_total, mut gzip_total) = (0, 0);
    println!("{:<48} {:>10} {:>10}", "file", "bytes", "gzip -9");
    for path in entries {
        let bytes = std::fs::read(&path).map_err(|error| error.to_string())?;
        let gzipped = gzip_size(&bytes)?;
        raw_total += bytes.len();
        gzip_total += gzipped;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("{name:<48} {:>10} {gzipped:>10}", bytes.len());
    }
    println!("{:<48} {raw_total:>10} {gzip_total:>10}", "total");
    Ok(())
}

fn gzip_size(bytes: &[u8]) -> Result<usize, String> {
    let mut gzip = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run gzip: {error}"))?;
    gzip.stdin.take().ok_or("no stdin")?.write_all(bytes).map_err(|error| error.to_string())?;
    let output = gzip.wait_with_output().map_err(|error| error.to_string())?;
    Ok(output.stdout.len())
}
