//! `cargo xtask screenshots`: the README's pictures, at a phone's width and a desktop's, light and dark, taken by
//! the e2e walk through every page (`e2e/tests/pages.rs`) in Chromium. Test runs take none.

use crate::process::workspace_root;
use crate::process::{command, status, trunk_release_build, which};
use crate::setup;

pub fn run() -> Result<(), String> {
    setup::all()?;
    let root = workspace_root();
    let dist = trunk_release_build(&root)?;
    let mut walk = command("cargo", &["test", "--package", "e2e", "--test", "pages", "--", "--test-threads", "1"]);
    walk.env("E2E_SCREENSHOTS", root.join("docs/screenshots"))
        .env("E2E_BROWSER", "chromium")
        .env("E2E_DIST", dist)
        .env("CHROMEDRIVER", which("chromedriver"));
    status(walk)
}
