//! `cargo xtask mutants`: cargo-mutants on the session core. A mutant that no test catches is a change of
//! behaviour nobody would notice; the core's README lists the few that cannot change behaviour, and why.

use crate::process::{command, status};

pub fn run() -> Result<(), String> {
    status(command("cargo", &["mutants", "--package", "session-core", "--no-shuffle", "--jobs", "2"]))
}
