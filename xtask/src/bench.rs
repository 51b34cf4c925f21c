//! `cargo xtask bench`: what the app costs each user to download and to start, how fast the server answers, and
//! what the session client adds to a request.

mod load;
mod react;
mod size;

use crate::postgres::TempCluster;
use crate::process::{built_server, command, status};
use crate::server_for_page::ServerForPage;
use crate::setup;

/// `postgres`: `bench server --postgres`, refresh on SQLite and on one and two PostgreSQL instances.
pub fn run(part: Option<&str>, postgres: bool) -> Result<(), String> {
    match part {
        Some("size") => size::run(),
        Some("load") => load::run(),
        Some("server") if postgres => server_on_postgres(),
        Some("server") => server(),
        Some("client") => client(),
        None => size::run().and_then(|()| load::run()).and_then(|()| server()).and_then(|()| client()),
        Some(other) => Err(format!("no benchmark {other:?}: name size, load, server or client")),
    }
}

/// `session-leptos/tests/client_bench.rs` in headless Chromium against the release server.
fn client() -> Result<(), String> {
    setup::all()?;
    status(command("cargo", &["build", "--release", "--quiet", "--package", "session-server"]))?;
    let server = ServerForPage::start(&built_server("release"), &["--dpop", "allowed"])?;
    let mut bench =
        server.wasm_pack_test(&["session-leptos", "--release", "--test", "client_bench", "--features", "client-bench"]);
    bench.args(["--", "--nocapture"]);
    status(bench)
}

/// `server/benches/http.rs` with `BENCH_POSTGRES`: the refresh on each backend, on a throwaway cluster.
fn server_on_postgres() -> Result<(), String> {
    setup::wrk()?;
    let cluster = TempCluster::start()?;
    let mut bench = command("cargo", &["bench", "--package", "session-server", "--bench", "http"]);
    bench.env("BENCH_POSTGRES", cluster.url());
    status(bench)
}

/// `server/benches/http.rs`: wrk against `GET /user` and `POST /auth/refresh` beside constant handlers.
fn server() -> Result<(), String> {
    setup::wrk()?;
    status(command("cargo", &["bench", "--package", "session-server", "--bench", "http"]))
}
