//! `cargo xtask bench load`: `e2e/benches/load.rs`, cold loads in headless Chromium of this app, the design
//! card's packages alone (`bench/size-floor`) and the React original, each served by the same server.

use crate::process::workspace_root;
use crate::process::{command, status, trunk_release_build, which};
use crate::setup;

pub fn run() -> Result<(), String> {
    setup::all()?;
    let dist = trunk_release_build(&workspace_root())?;
    let floor = trunk_release_build(&workspace_root().join("bench/size-floor"))?;
    let mut bench = command("cargo", &["bench", "--package", "e2e", "--bench", "load"]);
    bench.env("E2E_DIST", dist).env("FLOOR_DIST", floor).env("CHROMEDRIVER", which("chromedriver"));
    if let Some(react) = super::react::build() {
        bench.env("REACT_DIST", react);
    }
    status(bench)
}
