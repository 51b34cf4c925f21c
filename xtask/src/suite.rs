//! `cargo xtask test`: every check and suite, summed into one closing line.

use std::path::Path;

use crate::postgres::TempCluster;
use crate::run::{built_server, captured, command, not_run, status};
use crate::server_for_page::ServerForPage;
use crate::workspace_root;

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    failures: Vec<String>,
}

impl Tally {
    /// A check that passes or fails as a whole (format, lint, build).
    fn check(&mut self, name: &str, (success, _): (bool, String)) {
        if success {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.failures.push(name.to_owned());
        }
    }

    /// A test suite: its `test result:` lines count; a run that failed without one counts as one failure.
    fn suite(&mut self, name: &str, (success, output): (bool, String)) {
        let (passed, failed) = count_results(&output);
        self.passed += passed;
        self.failed += failed;
        if !success && failed == 0 {
            self.failed += 1;
        }
        if !success {
            self.failures.push(name.to_owned());
        }
    }
}

/// Sums `test result: ok. 12 passed; 0 failed; …` lines (cargo test and wasm-bindgen-test print the same form).
fn count_results(output: &str) -> (u64, u64) {
    let number_before = |line: &str, word: &str| -> u64 {
        line.split(';')
            .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    output.lines().filter(|line| line.contains("test result:")).fold((0, 0), |(passed, failed), line| {
        (passed + number_before(line, "passed"), failed + number_before(line, "failed"))
    })
}

pub fn run_all() -> Result<(), String> {
    let root = workspace_root();
    let mut tally = Tally::default();

    tally.check("cargo fmt --check", captured(command("cargo", &["fmt", "--all", "--check"])));
    tally.check(
        "clippy (native)",
        captured(command("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])),
    );
    tally.check(
        "clippy (wasm32 app)",
        captured(command(
            "cargo",
            &[
                "clippy",
                "--package",
                "session-app",
                "--target",
                "wasm32-unknown-unknown",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        )),
    );
    tally.suite("native tests", captured(command("cargo", &["test", "--workspace", "--exclude", "e2e"])));
    tally.suite("server tests on PostgreSQL", on_postgres());

    let build = captured(command("trunk", &["build", "--release"]));
    let built = build.0;
    tally.check("trunk build --release", build);

    // The design card's command, as a newcomer types it; then the same tests in Firefox.
    tally.suite("browser tests (wasm-pack)", captured(command("wasm-pack", &["test", "--headless", "--chrome"])));
    let mut firefox = command("wasm-pack", &["test", "--headless", "--firefox", "--mode", "no-install"]);
    firefox.env("GECKODRIVER", which("geckodriver"));
    tally.suite("browser tests in Firefox (wasm-pack)", captured(firefox));
    tally.suite("browser tests against the real server", against_the_real_server());

    if built {
        for engine in ["chromium", "firefox", "webkit"] {
            tally.suite(&format!("end-to-end tests in {engine}"), captured(e2e_in(engine, &root)));
        }
        tally.suite("end-to-end tests on two instances", e2e_on_two_instances(&root));
    } else {
        tally.failed += 1;
        tally.failures.push("end-to-end tests (no built app)".to_owned());
    }

    if !tally.failures.is_empty() {
        println!("\nfailed: {}", tally.failures.join(", "));
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 { Ok(()) } else { Err(format!("{} failed", tally.failed)) }
}

/// The server's HTTP suite again, each test on a database of its own in a throwaway PostgreSQL cluster, with the
/// tests that need PostgreSQL (two instances on one database) included.
fn on_postgres() -> (bool, String) {
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(error) => return not_run(error),
    };
    let mut tests =
        command("cargo", &["test", "--package", "session-server", "--test", "api", "--", "--include-ignored"]);
    tests.env("SESSION_TEST_DATABASE", cluster.url());
    captured(tests)
}

/// The e2e suite in one engine. Chromium runs all of it; Firefox and WebKit run what does not need ChromeDriver's
/// network emulation or the DevTools protocol (the offline test, and the axe and screenshot walk).
fn e2e_in(engine: &str, root: &Path) -> std::process::Command {
    let mut e2e = command("cargo", &["test", "--package", "e2e"]);
    if engine != "chromium" {
        e2e.args(["--test", "session_flow", "--test", "faults", "--", "--skip", "offline_across"]);
    } else {
        e2e.arg("--");
    }
    e2e.args(["--test-threads", "1"])
        .env("E2E_BROWSER", engine)
        .env("E2E_DIST", root.join("dist"))
        .env("CHROMEDRIVER", which("chromedriver"))
        .env("GECKODRIVER", which("geckodriver"));
    e2e
}

/// The article's flow and the faults in Chromium, with every test server two instances on one PostgreSQL
/// database behind a round-robin proxy.
fn e2e_on_two_instances(root: &Path) -> (bool, String) {
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(error) => return not_run(error),
    };
    let mut e2e = command("cargo", &["test", "--package", "e2e", "--test", "session_flow", "--test", "faults", "--"]);
    e2e.args(["--test-threads", "1"])
        .env("E2E_POSTGRES", cluster.url())
        .env("E2E_DIST", root.join("dist"))
        .env("CHROMEDRIVER", which("chromedriver"));
    captured(e2e)
}

/// `tests/real_server.rs`, with the server started for its page.
fn against_the_real_server() -> (bool, String) {
    if let Err(error) = status(command("cargo", &["build", "--quiet", "--package", "session-server"])) {
        return not_run(error);
    }
    match ServerForPage::start(&built_server("debug"), &["--metrics"]) {
        Ok(server) => captured(server.wasm_pack_test(&[".", "--test", "real_server", "--features", "real-server"])),
        Err(error) => not_run(error),
    }
}

pub fn which(program: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| Path::is_file(candidate))
        })
        .map_or_else(|| program.to_owned(), |path| path.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::count_results;

    #[test]
    fn sums_every_result_line() {
        let output = "test result: ok. 12 passed; 0 failed; 0 ignored\nnoise\ntest result: FAILED. 3 passed; 2 failed; 1 ignored";
        assert_eq!(count_results(output), (15, 2));
        assert_eq!(count_results("no tests here"), (0, 0));
    }
}
