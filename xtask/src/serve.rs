//! `cargo xtask serve`: the release build of the app, served with the API as in production.

use crate::process::workspace_root;
use crate::process::{command, status, trunk_release_build};

pub fn run(server_args: &[String]) -> Result<(), String> {
    trunk_release_build(&workspace_root())?;
    let mut server = command("cargo", &["run", "--release", "--quiet", "--package", "session-server", "--", "--demo"]);
    server.args(server_args);
    status(server)
}
