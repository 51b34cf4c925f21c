//! The three browser engines the suite runs in, each through its own WebDriver server.
//!
//! `E2E_BROWSER` picks one: `chromium` (the default; ChromeDriver), `firefox` (Firefox ESR through
//! geckodriver) or `webkit` (WebKitGTK's MiniBrowser through WebKitWebDriver, under a virtual X display).

use std::process::{Command, Stdio};

use fantoccini::wd::Capabilities;

const CHROME_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--window-size=1024,768",
];

const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// The engine `E2E_BROWSER` names.
    pub fn current() -> Self {
        match std::env::var("E2E_BROWSER").as_deref() {
            Ok("firefox") => Self::Firefox,
            Ok("webkit") => Self::WebKit,
            Ok("chromium") | Err(_) => Self::Chromium,
            Ok(other) => panic!("E2E_BROWSER={other}: name chromium, firefox or webkit"),
        }
    }

    /// The WebDriver server for this engine on `port`. WebKit's runs under `xvfb-run` in a process group of its
    /// own, so that ending the group ends the X server too.
    pub fn driver(self, port: u16) -> Command {
        let mut command = match self {
            Self::Chromium => {
                let mut chromedriver = Command::new(program("CHROMEDRIVER", "chromedriver"));
                chromedriver.arg(format!("--port={port}"));
                chromedriver
            }
            Self::Firefox => {
                let mut geckodriver = Command::new(program("GECKODRIVER", "geckodriver"));
                geckodriver.args(["--port", &port.to_string()]);
                geckodriver
            }
            Self::WebKit => {
                let mut xvfb = Command::new("xvfb-run");
                xvfb.args(["-a", "WebKitWebDriver", &format!("--port={port}")]);
                std::os::unix::process::CommandExt::process_group(&mut xvfb, 0);
                xvfb
            }
        };
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    pub fn capabilities(self) -> Capabilities {
        let mut capabilities = Capabilities::new();
        // The TLS proxy of the production-shaped tests presents a certificate from the run's own CA.
        if self != Self::WebKit {
            capabilities.insert("acceptInsecureCerts".to_owned(), true.into());
        }
        match self {
            Self::Chromium => {
                let chrome = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
                capabilities.insert(
                    "goog:chromeOptions".to_owned(),
                    serde_json::json!({ "binary": chrome, "args": CHROME_FLAGS }),
                );
            }
            Self::Firefox => {
                capabilities.insert("browserName".to_owned(), "firefox".into());
                capabilities.insert(
                    "moz:firefoxOptions".to_owned(),
                    serde_json::json!({
                        "binary": program("FIREFOX", "/usr/bin/firefox-esr"),
                        "args": ["-headless", "-width=1024", "-height=768"],
                        // No update checks, telemetry or first-run pages on a machine without a network.
                        "prefs": {
                            "app.update.enabled": false,
                            "datareporting.policy.dataSubmissionEnabled": false,
                            "browser.shell.checkDefaultBrowser": false,
                            "network.captive-portal-service.enabled": false,
                        },
                    }),
                );
            }
            Self::WebKit => {
                capabilities.insert("browserName".to_owned(), "MiniBrowser".into());
                capabilities.insert(
                    "webkitgtk:browserOptions".to_owned(),
                    serde_json::json!({ "binary": MINIBROWSER, "args": ["--automation"] }),
                );
            }
        }
        capabilities
    }

    /// ChromeDriver's network emulation and the DevTools protocol: Chromium only.
    pub fn has_devtools(self) -> bool {
        self == Self::Chromium
    }
}

fn program(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}
