//! The built app (trunk's `dist/`): each file compressed once at start, served in the best encoding the browser
//! accepts, cached for a year under a content-hashed name and revalidated every time otherwise.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
/// Small, and rewritten in place by `trunk serve`: compressed per request rather than ahead.
const INDEX: &str = "index.html";
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

/// Serves `dir`, with its index.html for every path that is neither a file nor a content-hashed name (the app's
/// routes).
pub fn service<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let index = ServeFile::new(dir.join(INDEX));
    // A missing hashed name (an earlier build's file, asked for by a page cached before the new build) is `404`:
    // the page in its place would be cached for a year as that file.
    let app_or_not_found = tower::service_fn(move |request: Request| {
        let index = index.clone();
        async move {
            if is_content_hashed(request.uri().path()) {
                return Ok(StatusCode::NOT_FOUND.into_response());
            }
            index.oneshot(request).await.map(IntoResponse::into_response)
        }
    });
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip().fallback(app_or_not_found);
    // Compresses per request only what has no compressed copy (a directory the server could not write to).
    Router::new()
        .fallback_service(files)
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::from_fn(vary_on_encoding))
}

async fn cache_control(request: Request, next: Next) -> Response {
    let immutable = is_content_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if immutable { IMMUTABLE } else { REVALIDATE };
        response.headers_mut().insert(header::CACHE_CONTROL, policy);
    }
    response
}

/// Every file may be sent in another encoding: a shared cache must key its copies by `Accept-Encoding`.
async fn vary_on_encoding(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let varies = response.headers().get_all(header::VARY).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|value| value.split(',').any(|name| name.trim().eq_ignore_ascii_case("accept-encoding")))
    });
    if !varies {
        response.headers_mut().append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// trunk names what it builds `name-<16 hex digits>.ext` (the wasm `name-<hash>_bg.wasm`): a new build is a
/// new name, so the old one can be cached for good.
fn is_content_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(name, hash)| {
        !name.is_empty() && hash.len() == 16 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

/// Writes `file.br` and `file.gz` beside every file of `dir` but the index that lacks them or has changed since;
/// returns the files it could not compress (a read-only directory is served all the same).
pub fn precompress(dir: &Path) -> Vec<(PathBuf, io::Error)> {
    let mut failures = Vec::new();
    for file in files_below(dir, &mut failures) {
        for (extension, compress) in [("br", brotli as fn(&[u8]) -> io::Result<Vec<u8>>), ("gz", gzip)] {
            let copy = with_extension_added(&file, extension);
            if let Err(error) = refresh_copy(&file, &copy, compress) {
                failures.push((copy, error));
            }
        }
    }
    failures
}

fn files_below(dir: &Path, failures: &mut Vec<(PathBuf, io::Error)>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            failures.push((dir.to_path_buf(), error));
            return Vec::new();
        }
    };
    let mut files = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // A symlinked directory is served but never walked: it may loop, or lead out of the app.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            files.extend(files_below(&path, failures));
        } else if (kind.is_file() || path.is_file())
            && !matches!(path.extension().and_then(|extension| extension.to_str()), Some("br" | "gz"))
            && path.file_name().is_some_and(|name| name != INDEX)
        {
            files.push(path);
        }
    }
    files
}

fn with_extension_added(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn refresh_copy(file: &Path, copy: &Path, compress: fn(&[u8]) -> io::Result<Vec<u8>>) -> io::Result<()> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|metadata| metadata.modified());
    if let (Ok(original), Ok(compressed)) = (modified(file), modified(copy))
        && compressed >= original
    {
        return Ok(());
    }
    let compressed = compress(&std::fs::read(file)?)?;
    // Written aside and renamed, so a request never meets half a file.
    let partial = with_extension_added(copy, "partial");
    std::fs::write(&partial, compressed)?;
    std::fs::rename(&partial, copy)
}

fn brotli(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut output = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut output, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        writer.write_all(bytes)?;
    }
    Ok(output)
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::is_content_hashed;

    #[test]
    fn only_trunks_hashed_names_are_immutable() {
        let table = [
            ("/session-app-0123456789abcdef_bg.wasm", true),
            ("/session-app-0123456789abcdef.js", true),
            ("/main-bace9e5970107284.css", true),
            ("/snippets/x-0123456789abcdef.js", true),
            ("/index.html", false),
            ("/", false),
            ("/login", false),
            ("/main-bace9e597010728.css", false), // 15 digits
            ("/main-bace9e597010728g.css", false),
            ("/-0123456789abcdef.js", false),
        ];
        for (path, hashed) in table {
            assert_eq!(is_content_hashed(path), hashed, "{path}");
        }
    }
}
