//! `cargo xtask check`: the quick lane of the edit-test loop (format, native lints, native tests), in minutes.
//! `cargo xtask test` starts with the same steps.

use crate::process::{captured, command};
use crate::tally::Tally;

pub fn run() -> Result<(), String> {
    let mut tally = Tally::default();
    native(&mut tally);
    tally.finish()
}

/// What needs neither a browser nor a wasm build.
pub fn native(tally: &mut Tally) {
    tally.check("cargo fmt --check", captured(command("cargo", &["fmt", "--all", "--check"])));
    tally.check(
        "clippy (native)",
        captured(command("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])),
    );
    tally.suite(
        "native tests",
        captured(command("cargo", &["test", "--no-fail-fast", "--workspace", "--exclude", "e2e"])),
    );
}
