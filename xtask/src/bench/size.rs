//! `cargo xtask bench size`: what each file of the built app costs to download, raw, gzip -9 and brotli -q 11,
//! beside the React original's and the floor's (`bench/size-floor/`: the design card's packages doing the least
//! a sign-in app does, built the same way).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::process::trunk_release_build;
use crate::process::workspace_root;

pub fn run() -> Result<(), String> {
    let ours = table("this app (dist/)", &trunk_release_build(&workspace_root())?)?;
    let floor = trunk_release_build(&workspace_root().join("bench/size-floor"))?;
    let floor = table("the card's packages alone (bench/size-floor/dist/)", &floor)?;
    match super::react::build() {
        Some(react) => {
            let react = table("React original (bench/react-original/dist/)", &react)?;
            println!();
            ratios("this app / React original", ours, react);
            ratios("the card's packages alone / React original", floor, react);
        }
        None => println!(),
    }
    ratios("this app / the card's packages alone", ours, floor);
    budget(ours, floor);
    Ok(())
}

/// What the app may add to the floor (issue 22): everything it does above "sign in and show a user".
const BUDGET_GZIP_KB: f64 = 20.0;
const BUDGET_BROTLI_KB: f64 = 16.0;

fn budget(ours: Sizes, floor: Sizes) {
    let added = |ours: usize, floor: usize| (f64_of(ours) - f64_of(floor)) / 1000.0;
    let (gzip, brotli) = (added(ours.gzip, floor.gzip), added(ours.brotli, floor.brotli));
    let verdict = if gzip <= BUDGET_GZIP_KB && brotli <= BUDGET_BROTLI_KB { "within" } else { "OVER" };
    println!(
        "this app above the card's packages alone: {gzip:+.1} KB gzip, {brotli:+.1} KB brotli \
         (budget +{BUDGET_GZIP_KB} / +{BUDGET_BROTLI_KB}): {verdict}"
    );
}

fn ratios(title: &str, ours: Sizes, theirs: Sizes) {
    let ratio = |ours: usize, theirs: usize| f64_of(ours) / f64_of(theirs);
    println!(
        "{title}: raw {:.2}, gzip {:.2}, brotli {:.2}",
        ratio(ours.raw, theirs.raw),
        ratio(ours.gzip, theirs.gzip),
        ratio(ours.brotli, theirs.brotli)
    );
}

#[derive(Default, Clone, Copy)]
struct Sizes {
    raw: usize,
    gzip: usize,
    brotli: usize,
}

fn table(title: &str, dir: &Path) -> Result<Sizes, String> {
    println!("\n{title}\n{:<48} {:>10} {:>10} {:>10}", "file", "bytes", "gzip -9", "brotli 11");
    let mut total = Sizes::default();
    for path in shipped_files(dir)? {
        let bytes = std::fs::read(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let sizes = Sizes { raw: bytes.len(), gzip: gzip(&bytes)?, brotli: brotli(&bytes)? };
        let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        println!("{name:<48} {:>10} {:>10} {:>10}", sizes.raw, sizes.gzip, sizes.brotli);
        total =
            Sizes { raw: total.raw + sizes.raw, gzip: total.gzip + sizes.gzip, brotli: total.brotli + sizes.brotli };
    }
    println!("{:<48} {:>10} {:>10} {:>10}", "total", total.raw, total.gzip, total.brotli);
    Ok(total)
}

/// Every file a browser may download, without the compressed copies the server makes beside them.
fn shipped_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
        if path.is_dir() {
            files.extend(shipped_files(&path)?);
        } else if !matches!(path.extension().and_then(|extension| extension.to_str()), Some("br" | "gz")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn gzip(bytes: &[u8]) -> Result<usize, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).map_err(|error| error.to_string())?;
    Ok(encoder.finish().map_err(|error| error.to_string())?.len())
}

fn brotli(bytes: &[u8]) -> Result<usize, String> {
    let mut output = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut output, 64 * 1024, 11, 22);
        writer.write_all(bytes).map_err(|error| error.to_string())?;
    }
    Ok(output.len())
}

/// Byte counts of a web app are far below 2^52: exact as f64.
#[allow(clippy::cast_precision_loss)]
fn f64_of(bytes: usize) -> f64 {
    bytes as f64
}
