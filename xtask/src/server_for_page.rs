//! The real server for wasm-bindgen tests that need one (the client benchmark, the real-server browser tests):
//! the test page and the API are two origins on 127.0.0.1, the same site, so the refresh cookie works, and the
//! server allows the page's origin by CORS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::workspace_root;
use crate::process::{Guard, command, free_port, wait_for_port, which};

pub struct ServerForPage {
    api_port: u16,
    page_port: u16,
    data_dir: PathBuf,
    _server: Guard,
}

impl ServerForPage {
    /// Starts `binary` (a built `session-server`) with `settings` on a free port.
    pub fn start(binary: &Path, settings: &[&str]) -> Result<Self, String> {
        let (api_port, page_port) = (free_port()?, free_port()?);
        let data_dir = std::env::temp_dir().join(format!("session-page-{}-{api_port}", std::process::id()));
        let server = Command::new(binary)
            .args(settings)
            .current_dir(workspace_root())
            .arg("--demo")
            .args(["--addr", &format!("127.0.0.1:{api_port}")])
            .args(["--allowed-origin", &format!("http://127.0.0.1:{page_port}")])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--static-dir", "no-app-needed"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let server = Self { api_port, page_port, data_dir, _server: Guard(server) };
        wait_for_port(api_port)?;
        Ok(server)
    }

    /// `wasm-pack test` of one test target, its page served where the server allows it, and the API's origin
    /// in `API_ORIGIN` at compile time.
    pub fn wasm_pack_test(&self, args: &[&str]) -> Command {
        let mut test = command("wasm-pack", &["test", "--headless", "--chrome", "--mode", "no-install"]);
        test.args(args)
            .env("API_ORIGIN", format!("http://127.0.0.1:{}", self.api_port))
            .env("WASM_BINDGEN_TEST_ADDRESS", format!("127.0.0.1:{}", self.page_port))
            .env("CHROMEDRIVER", which("chromedriver"));
        test
    }
}

impl Drop for ServerForPage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
