//! `cargo xtask bench`: what the app costs each user to download, and how fast the server answers.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::run::{command, status, trunk_release_build};
use crate::setup;
use crate::workspace_root;

pub fn run(part: Option<&str>) -> Result<(), String> {
    match part {
        Some("size") => sizes(),
        Some("server") => server(),
        None => sizes().and_then(|()| server()),
        Some(other) => Err(format!("no benchmark {other:?}: name size or server")),
    }
}

/// `server/benches/http.rs`: wrk against `GET /user` and `POST /auth/refresh` beside constant handlers.
fn server() -> Result<(), String> {
    setup::wrk()?;
    status(command("cargo", &["bench", "--package", "session-server", "--bench", "http"]))
}

fn sizes() -> Result<(), String> {
    trunk_release_build()?;
    let dist = workspace_root().join("dist");
    let mut entries: Vec<_> = std::fs::read_dir(&dist)
        .map_err(|error| format!("cannot read {}: {error}", dist.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    let (mut raw_total, mut gzip_total) = (0, 0);
    println!("{:<48} {:>10} {:>10}", "file", "bytes", "gzip -9");
    for path in entries {
        let bytes = std::fs::read(&path).map_err(|error| error.to_string())?;
        let gzipped = gzip_size(&bytes)?;
        raw_total += bytes.len();
        gzip_total += gzipped;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("{name:<48} {:>10} {gzipped:>10}", bytes.len());
    }
    println!("{:<48} {raw_total:>10} {gzip_total:>10}", "total");
    Ok(())
}

fn gzip_size(bytes: &[u8]) -> Result<usize, String> {
    let mut gzip = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run gzip: {error}"))?;
    gzip.stdin.take().ok_or("no stdin")?.write_all(bytes).map_err(|error| error.to_string())?;
    let output = gzip.wait_with_output().map_err(|error| error.to_string())?;
    Ok(output.stdout.len())
}
