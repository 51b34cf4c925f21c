//! The article's React app, rebuilt small in `bench/react-original/`, built with Vite from the npm registry.

use std::path::PathBuf;

use crate::process::workspace_root;
use crate::process::{command, status};

/// Its `dist/`, built now; `None` (with the reason printed) where npm is missing or the build fails, so the
/// benchmarks still report our app.
pub fn build() -> Option<PathBuf> {
    let project = workspace_root().join("bench/react-original");
    let npm = |args: &[&str]| {
        let mut npm = command("npm", args);
        npm.current_dir(&project);
        status(npm)
    };
    let built = npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"]).and_then(|()| npm(&["run", "build"]));
    match built {
        Ok(()) => Some(project.join("dist")),
        Err(error) => {
            println!("bench: the React original is left out: {error}");
            None
        }
    }
}
