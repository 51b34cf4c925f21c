//! `cargo xtask setup | serve | dev | check | test | screenshots | bench | mutants`: the project's whole
//! workflow, from a fresh machine on. Each command is a module; `process` is the one helper they share.

mod bench;
mod check;
mod dev;
mod mutants;
mod postgres;
mod process;
mod screenshots;
mod serve;
mod server_for_page;
mod setup;
mod tally;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

  setup   install what is missing: wasm32 target, trunk, wasm-bindgen-cli, wasm-opt, esbuild, wasm-pack, Chromium
  serve   build the app (release) and serve it with the API on http://127.0.0.1:8080
          (arguments after `--` go to the server, e.g. `cargo xtask serve -- --addr 0.0.0.0:8080`)
  dev     the API on :3000 and `trunk serve` with hot reload on http://127.0.0.1:8080
  check   the quick lane: fmt, clippy and the native tests (no browser, no wasm build)
  test    every check and suite; ends with `N passed, N failed`
  screenshots  the README's pictures in docs/screenshots/ (Chromium; test runs take none)
  bench   [size|load|server [--postgres]|client]  what the app costs to download (raw, gzip, brotli) and its cold start
          beside the React original's; the server's rate and latency beside a constant handler (wrk); the
          client's time per request beside a bare fetch (Chromium); all four when no part is named
  mutants cargo-mutants on the session core: every mutant must be caught or explained in its README";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.iter().skip(1).skip_while(|arg| *arg == "--").cloned().collect::<Vec<_>>();
    let outcome = match args.first().map(String::as_str) {
        Some("setup") => setup::all().and_then(|()| setup::cargo_mutants()),
        Some("serve") => setup::build_tools().and_then(|()| serve::run(&rest)),
        Some("dev") => setup::build_tools().and_then(|()| dev::run()),
        Some("check") => check::run(),
        Some("test") => setup::all().and_then(|()| test::run()),
        Some("screenshots") => screenshots::run(),
        Some("bench") => setup::build_tools()
            .and_then(|()| bench::run(rest.first().map(String::as_str), rest.iter().any(|arg| arg == "--postgres"))),
        Some("mutants") => setup::cargo_mutants().and_then(|()| mutants::run()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
