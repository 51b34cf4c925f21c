//! `cargo xtask test`: every check and suite, summed into one closing line.

use std::path::Path;

use crate::check;
use crate::postgres::TempCluster;
use crate::process::workspace_root;
use crate::process::{built_server, captured, command, not_run, status, which};
use crate::server_for_page::ServerForPage;
use crate::setup;
use crate::tally::Tally;

pub fn run() -> Result<(), String> {
    let root = workspace_root();
    let mut tally = Tally::default();
    check::native(&mut tally);
    tally.check(
        "clippy (wasm32: the app and session-leptos)",
        captured(command(
            "cargo",
            &[
                "clippy",
                "--package",
                "session-app",
                "--package",
                "session-leptos",
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
    // The README's adoption example is the crate's documentation: it must build for the browser (`no_run`: it
    // is compiled for wasm32, not run).
    tally.suite(
        "session-leptos doc example (wasm32)",
        captured(command(
            "cargo",
            &["test", "--package", "session-leptos", "--doc", "--target", "wasm32-unknown-unknown"],
        )),
    );
    // What crates.io would take: each library crate packaged and built from its package alone.
    tally.check("cargo package (session-contract, session-core, session-leptos)", package_the_libraries());
    tally.suite("server tests on PostgreSQL", on_postgres());

    let build = captured(command("trunk", &["build", "--release"]));
    let built = build.0;
    tally.check("trunk build --release", build);

    // The design card's command, as a newcomer types it, for the app and for the session crate; then the same
    // tests in Firefox.
    for (name, dir) in [("the app", "."), ("session-leptos", "session-leptos")] {
        let chrome = command("wasm-pack", &["test", "--headless", "--chrome", dir]);
        tally.suite(&format!("browser tests of {name} (wasm-pack)"), captured(chrome));
        let mut firefox = command("wasm-pack", &["test", "--headless", "--firefox", "--mode", "no-install", dir]);
        firefox.env("GECKODRIVER", which("geckodriver"));
        tally.suite(&format!("browser tests of {name} in Firefox (wasm-pack)"), captured(firefox));
    }
    tally.suite("browser tests against the real server", against_the_real_server());

    if built {
        for engine in ["chromium", "firefox", "webkit"] {
            tally.suite(&format!("end-to-end tests in {engine}"), captured(e2e_in(engine, &root)));
        }
        tally.suite("end-to-end tests on two instances", e2e_on_two_instances(&root));
        e2e_behind_nginx(&mut tally, &root);
    } else {
        tally.fail("end-to-end tests (no built app)");
    }
    tally.finish()
}

/// The crates other projects depend on.
const LIBRARIES: [&str; 3] = ["session-contract", "session-core", "session-leptos"];

/// `cargo package` of the three library crates together: each is built from its package alone, its path
/// dependencies taken from a local registry of the ones just packaged.
fn package_the_libraries() -> (bool, String) {
    forget_earlier_packages();
    let mut package = command("cargo", &["package", "--allow-dirty"]);
    for library in LIBRARIES {
        package.args(["--package", library]);
    }
    captured(package)
}

/// cargo unpacks that local registry's crates under `$CARGO_HOME/registry/src/-<hash>/` (a local registry's
/// folder has no host before its `-`), and an unpacked copy of the same version left by an earlier run is used
/// as it is: the verification would build the earlier sources. So those copies of our own crates, at the
/// version about to be packaged, go first; nothing else is touched.
fn forget_earlier_packages() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let Some(unpacked) = cargo_home.map(|home| home.join("registry/src")) else { return };
    let copies: Vec<String> =
        LIBRARIES.iter().filter_map(|library| Some(format!("{library}-{}", version_of(library)?))).collect();
    let local_registries = std::fs::read_dir(unpacked).into_iter().flatten().filter_map(Result::ok);
    for registry in local_registries.filter(|registry| registry.file_name().to_string_lossy().starts_with('-')) {
        for copy in &copies {
            let _ = std::fs::remove_dir_all(registry.path().join(copy));
        }
    }
    // cargo takes a registry crate to be immutable at its version, so the verification would also link an
    // earlier build of our crates from the same target directory: their fingerprints go too (they rebuild in
    // seconds; nothing else is touched).
    let fingerprints = workspace_root().join("target/debug/.fingerprint");
    for entry in std::fs::read_dir(&fingerprints).into_iter().flatten().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = LIBRARIES.iter().any(|library| {
            name.strip_prefix(library).and_then(|rest| rest.strip_prefix('-')).is_some_and(|hash| !hash.contains('-'))
        });
        if ours {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The version in the manifest of the workspace crate `library`.
fn version_of(library: &str) -> Option<String> {
    let folder = if library == "session-contract" { "contract" } else { library };
    let manifest = std::fs::read_to_string(workspace_root().join(folder).join("Cargo.toml")).ok()?;
    manifest.lines().find_map(|line| Some(line.strip_prefix("version = ")?.trim_matches('"').to_owned()))
}

/// The server's HTTP suite again, each test on a database of its own in a throwaway PostgreSQL cluster, with the
/// tests that need PostgreSQL (two instances on one database) included.
fn on_postgres() -> (bool, String) {
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(error) => return not_run(error),
    };
    let mut tests = command(
        "cargo",
        &["test", "--no-fail-fast", "--package", "session-server", "--test", "api", "--", "--include-ignored"],
    );
    tests.env("SESSION_TEST_DATABASE", cluster.url()).env("SESSION_TEST_DATABASE_CA", cluster.ca_certificate());
    captured(tests)
}

/// The e2e suite in one engine. Chromium runs all of it; Firefox and WebKit run what does not need ChromeDriver's
/// network emulation or the DevTools protocol (the offline test, and the axe and screenshot walk).
fn e2e_in(engine: &str, root: &Path) -> std::process::Command {
    // Every test target runs even when one fails, so the closing line counts them all.
    let mut e2e = command("cargo", &["test", "--no-fail-fast", "--package", "e2e"]);
    if engine != "chromium" {
        e2e.args([
            "--test",
            "session_flow",
            "--test",
            "faults",
            "--test",
            "device_bound",
            "--",
            "--skip",
            "offline_across",
        ]);
    } else {
        e2e.arg("--");
    }
    e2e.args(["--test-threads", "1"]);
    in_browser(&mut e2e, engine, root);
    e2e
}

/// The e2e suite's environment: the engine, the built app and the WebDriver servers.
fn in_browser<'a>(e2e: &'a mut std::process::Command, engine: &str, root: &Path) -> &'a mut std::process::Command {
    e2e.env("E2E_BROWSER", engine)
        .env("E2E_DIST", root.join("dist"))
        .env("CHROMEDRIVER", which("chromedriver"))
        .env("GECKODRIVER", which("geckodriver"))
}

/// The article's flow and the faults in Chromium, with every test server two instances on one PostgreSQL
/// database behind a round-robin proxy.
fn e2e_on_two_instances(root: &Path) -> (bool, String) {
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(error) => return not_run(error),
    };
    let mut e2e = command(
        "cargo",
        &["test", "--no-fail-fast", "--package", "e2e", "--test", "session_flow", "--test", "faults", "--"],
    );
    e2e.args(["--test-threads", "1"]);
    in_browser(&mut e2e, "chromium", root).env("E2E_POSTGRES", cluster.url());
    captured(e2e)
}

/// docs/operations.md's production shape (`e2e/tests/behind_tls.rs`, ignored elsewhere): nginx terminating TLS
/// with the cluster's certificate in front of two instances on one PostgreSQL database, in Chromium and Firefox.
fn e2e_behind_nginx(tally: &mut Tally, root: &Path) {
    let name = |engine| format!("end-to-end tests behind nginx with TLS in {engine}");
    if !Path::new(setup::NGINX).exists() {
        return tally.suite(&name("chromium and firefox"), not_run(format!("no nginx at {}", setup::NGINX)));
    }
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(error) => return tally.suite(&name("chromium and firefox"), not_run(error)),
    };
    for engine in ["chromium", "firefox"] {
        let mut e2e = command(
            "cargo",
            &["test", "--package", "e2e", "--test", "behind_tls", "--", "--include-ignored", "--test-threads", "1"],
        );
        in_browser(&mut e2e, engine, root).env("E2E_POSTGRES", cluster.url()).env("E2E_TLS", cluster.certificates());
        tally.suite(&name(engine), captured(e2e));
    }
}

/// `session-leptos/tests/real_server.rs`, with the server started for its page.
fn against_the_real_server() -> (bool, String) {
    if let Err(error) = status(command("cargo", &["build", "--quiet", "--package", "session-server"])) {
        return not_run(error);
    }
    match ServerForPage::start(&built_server("debug"), &[]) {
        Ok(server) => {
            captured(server.wasm_pack_test(&["session-leptos", "--test", "real_server", "--features", "real-server"]))
        }
        Err(error) => not_run(error),
    }
}
