//! Installs only what is missing, each from its registry, and says what it does.

use std::path::Path;
use std::process::Command;

use crate::process::status;
use crate::process::workspace_root;

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132";
const CARGO_MUTANTS_VERSION: &str = "27.1.0";
const GECKODRIVER_VERSION: &str = "0.37.1";
/// Debian's nginx, which the e2e suite behind TLS runs.
pub const NGINX: &str = "/usr/sbin/nginx";

/// What `serve`, `dev` and `bench` need: the wasm target and the tools trunk runs.
pub fn build_tools() -> Result<(), String> {
    wasm_target()?;
    install_if_missing("trunk", &format!("trunk {TRUNK_VERSION}"), || {
        status(cargo_install(&["--locked", "trunk", "--version", TRUNK_VERSION]))
    })?;
    let bindgen = wasm_bindgen_version()?;
    install_if_missing("wasm-bindgen", &format!("wasm-bindgen {bindgen}"), || {
        // Not --locked: one of its locked dependencies is missing from the registry mirror.
        status(cargo_install(&["wasm-bindgen-cli", "--version", &bindgen]))
    })?;
    install_if_missing("wasm-opt", "wasm-opt", || {
        let mut npm = Command::new("npm");
        npm.args(["install", "-g", &format!("binaryen@{BINARYEN_VERSION}")]);
        status(npm).map_err(|error| format!("{error}; install binaryen's wasm-opt by hand"))
    })?;
    npm_project("xtask/minify", "esbuild")
}

/// Everything, including what the browser tests need.
pub fn all() -> Result<(), String> {
    build_tools()?;
    install_if_missing("wasm-pack", "wasm-pack", || status(cargo_install(&["--locked", "wasm-pack"])))?;
    chromium()?;
    other_engines()?;
    debian_packages("PostgreSQL 15", &["/usr/lib/postgresql/15/bin/initdb"], &["postgresql"])?;
    nginx();
    axe_core()
}

/// Firefox ESR with geckodriver, and WebKitGTK's WebDriver with a virtual X display to run it in.
fn other_engines() -> Result<(), String> {
    debian_packages("Firefox ESR", &["firefox-esr"], &["firefox-esr"])?;
    debian_packages("WebKitWebDriver and Xvfb", &["WebKitWebDriver", "xvfb-run"], &["webkit2gtk-driver", "xvfb"])?;
    let wanted = format!("geckodriver {GECKODRIVER_VERSION}");
    install_if_missing("geckodriver", &wanted, || {
        status(cargo_install(&["--locked", "geckodriver", "--version", GECKODRIVER_VERSION]))
    })
}

/// axe-core, which the e2e suite injects into every page it checks.
fn axe_core() -> Result<(), String> {
    npm_project("e2e/axe", "axe-core")
}

/// The npm project in `folder` (esbuild for the release build's JS, axe-core for the e2e suite), installed as
/// its lock file pins it, unless `package` is already there at the version `package.json` pins. Install
/// scripts never run: esbuild's would fetch its binary itself, outside the lock's integrity checks, and it
/// finds the binary the lock installed without it.
fn npm_project(folder: &str, package: &str) -> Result<(), String> {
    let project = workspace_root().join(folder);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let pinned = read(&project.join("package.json"));
    let installed = read(&project.join("node_modules").join(package).join("package.json"));
    let wanted =
        json_string(&pinned, package).ok_or_else(|| format!("{folder}/package.json does not pin {package}"))?;
    if json_string(&installed, "version") == Some(wanted) {
        println!("setup: {package} {wanted} present");
        return Ok(());
    }
    println!("setup: installing {package} {wanted} with npm ci in {folder}");
    let mut npm = Command::new("npm");
    npm.args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(project);
    status(npm).map_err(|error| format!("could not install {package}: {error}"))
}

/// The string value of the first `"key": "value"` in a package.json.
fn json_string<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let after_key = json.split_once(&format!("\"{key}\""))?.1.trim_start().strip_prefix(':')?;
    after_key.trim_start().strip_prefix('"')?.split('"').next()
}

/// cargo-mutants, for `cargo xtask mutants`.
pub fn cargo_mutants() -> Result<(), String> {
    let wanted = format!("cargo-mutants {CARGO_MUTANTS_VERSION}");
    install_if_missing("cargo-mutants", &wanted, || {
        status(cargo_install(&["--locked", "cargo-mutants", "--version", CARGO_MUTANTS_VERSION]))
    })
}

fn wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|line| line.trim() == "wasm32-unknown-unknown") {
        println!("setup: wasm32-unknown-unknown target present");
        return Ok(());
    }
    println!("setup: adding the wasm32-unknown-unknown target");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", "wasm32-unknown-unknown"]);
    status(rustup)
}

fn chromium() -> Result<(), String> {
    debian_packages("Chromium and ChromeDriver", &["chromium", "chromedriver"], &["chromium", "chromium-driver"])
}

/// The load generator of `cargo xtask bench server`.
pub fn wrk() -> Result<(), String> {
    debian_packages("wrk", &["wrk"], &["wrk"])
}

/// The TLS proxy of the production-shaped e2e suite (docs/operations.md's configuration); without it that one
/// suite is reported as not run, so a machine where it cannot be installed still runs the rest. The tests start
/// their own nginx: the system's service, which Debian's package enables, is stopped where systemd runs.
fn nginx() {
    let was_there = Path::new(NGINX).exists();
    match debian_packages("nginx", &[NGINX], &["nginx"]) {
        Ok(()) if !was_there && Path::new("/run/systemd/system").exists() => {
            let mut systemctl = Command::new("systemctl");
            systemctl.args(["disable", "--now", "nginx"]);
            if let Err(error) = status(systemctl) {
                println!("setup: cannot stop the system's nginx service ({error}); it may hold port 80");
            }
        }
        Ok(()) => {}
        Err(error) => println!("setup: {error}; the end-to-end tests behind nginx will not run"),
    }
}

/// Installs Debian packages when a program is missing, as root; otherwise names what to install by hand.
fn debian_packages(what: &str, programs: &[&str], packages: &[&str]) -> Result<(), String> {
    let present = |program: &str| output("sh", &["-c", &format!("command -v {program}")]).is_some();
    if programs.iter().all(|program| present(program)) {
        println!("setup: {what} present");
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root || !present("apt-get") {
        return Err(format!("{what} missing: install by hand (Debian: apt-get install {})", packages.join(" ")));
    }
    println!("setup: installing {what} with apt-get");
    let mut update = Command::new("apt-get");
    update.arg("update");
    status(update)?;
    let mut install = Command::new("apt-get");
    install.args(["install", "-y", "--no-install-recommends"]).args(packages).env("DEBIAN_FRONTEND", "noninteractive");
    status(install)
}

fn install_if_missing(program: &str, wanted: &str, install: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match output(program, &["--version"]) {
        Some(version) if version.contains(wanted) => {
            println!("setup: {} present", version.trim());
            Ok(())
        }
        found => {
            let found = found.map_or("missing".to_owned(), |version| format!("found {}", version.trim()));
            println!("setup: installing {wanted} ({found})");
            install().map_err(|error| format!("could not install {wanted}: {error}"))
        }
    }
}

fn cargo_install(args: &[&str]) -> Command {
    let mut cargo = Command::new("cargo");
    cargo.arg("install").args(args);
    cargo
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// trunk needs a wasm-bindgen CLI of exactly the version the app links.
fn wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock"))
        .map_err(|error| format!("cannot read Cargo.lock: {error}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "wasm-bindgen""# {
            let version = lines.next().and_then(|line| line.trim().strip_prefix("version = "));
            return version
                .map(|version| version.trim_matches('"').to_owned())
                .ok_or_else(|| "Cargo.lock is malformed".to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen".to_owned())
}
