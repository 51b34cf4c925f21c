//! `cargo xtask dev`: the API, and trunk's dev server with hot reload in front of it.

use crate::process::{Guard, command, status};

pub fn run() -> Result<(), String> {
    status(command("cargo", &["build", "--package", "session-server"]))?;
    // The browser's origin is trunk's, which the API's state-changing requests must come from.
    let api = command(
        "cargo",
        &[
            "run",
            "--quiet",
            "--package",
            "session-server",
            "--",
            "--demo",
            "--addr",
            "127.0.0.1:3000",
            "--public-url",
            "http://127.0.0.1:8080",
        ],
    )
    .spawn()
    .map_err(|error| format!("cannot start the API: {error}"))?;
    let _api = Guard(api);
    println!("API on http://127.0.0.1:3000; app with hot reload on http://127.0.0.1:8080");
    status(command("trunk", &["serve"]))
}
