//! The built app: compressed once at start (brotli 11, gzip 9), cached for a year under hashed names, and
//! revalidated every time for index.html.

use reqwest::StatusCode;
use session_server::Settings;

use crate::support::TestServer;

const WASM: &str = "session-app-0123456789abcdef_bg.wasm";
const INDEX: &str = "<!doctype html><script type=module>boot()</script>";

fn built_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    // Compressible, as wasm is.
    std::fs::write(dir.path().join(WASM), b"\0asm".repeat(4096)).unwrap();
    dir
}

async fn fetch(server: &TestServer, path: &str, encodings: &str) -> reqwest::Response {
    let request = server.http.get(format!("{}{path}", server.base));
    request.header("Accept-Encoding", encodings).send().await.unwrap()
}

#[tokio::test]
async fn assets_are_sent_precompressed_in_the_best_encoding_the_browser_accepts() {
    let app = built_app();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    let brotli = std::fs::read(app.path().join(format!("{WASM}.br"))).expect("made at start");
    let gzip = std::fs::read(app.path().join(format!("{WASM}.gz"))).expect("made at start");
    assert!(brotli.len() < 4096 && gzip.len() < 4096, "both compress");
    assert!(!app.path().join("index.html.br").exists(), "the page is rebuilt in place by trunk serve: not ahead");

    let path = format!("/{WASM}");
    let answer = fetch(&server, &path, "gzip, deflate, br").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-encoding"], "br");
    assert_eq!(answer.bytes().await.unwrap(), brotli, "the file made at start, not one made now");

    let answer = fetch(&server, &path, "gzip").await;
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    assert_eq!(answer.bytes().await.unwrap(), gzip);

    let answer = fetch(&server, &path, "identity").await;
    assert!(answer.headers().get("content-encoding").is_none());
    assert_eq!(answer.bytes().await.unwrap().len(), 4 * 4096);
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_the_page_is_revalidated() {
    let app = built_app();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    let asset = fetch(&server, &format!("/{WASM}"), "br").await;
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    for page in ["/", "/index.html", "/login", "/no/such/page"] {
        let answer = fetch(&server, page, "br").await;
        assert_eq!(answer.status(), StatusCode::OK, "{page}");
        assert_eq!(answer.headers()["cache-control"], "no-cache", "{page}");
    }
}

#[tokio::test]
async fn compressed_copies_follow_a_rebuilt_file() {
    let app = built_app();
    drop(TestServer::start_serving(Settings::default(), app.path()).await);
    // A stale copy from an earlier build, older than the file it stands for.
    std::fs::write(app.path().join(format!("{WASM}.br")), b"stale").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(app.path().join(format!("{WASM}.br")))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    let remade = std::fs::read(app.path().join(format!("{WASM}.br"))).unwrap();
    assert_ne!(remade, b"stale");
    let answer = fetch(&server, &format!("/{WASM}"), "br").await;
    assert_eq!(answer.bytes().await.unwrap(), remade);
}

#[tokio::test]
async fn a_missing_hashed_asset_is_not_found_rather_than_the_page_cached_for_a_year() {
    let app = built_app();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    // An earlier build's file, asked for by a page cached before the new build.
    for path in ["/session-app-fedcba9876543210_bg.wasm", "/main-fedcba9876543210.css"] {
        let answer = fetch(&server, path, "br").await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        assert_ne!(
            answer.headers().get("cache-control").map(|value| value.to_str().unwrap()),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn answers_that_depend_on_accept_encoding_say_so() {
    let app = built_app();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    for encodings in ["br", "gzip", "identity"] {
        let answer = fetch(&server, &format!("/{WASM}"), encodings).await;
        let vary = answer.headers().get_all("vary").iter().map(|value| value.to_str().unwrap().to_lowercase());
        assert!(vary.collect::<Vec<_>>().join(",").contains("accept-encoding"), "{encodings}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn precompression_follows_no_symlinked_directory_neither_a_loop_nor_out_of_the_app() {
    let app = built_app();
    std::fs::create_dir(app.path().join("assets")).unwrap();
    std::fs::write(app.path().join("assets/logo.svg"), "<svg/>".repeat(512)).unwrap();
    std::os::unix::fs::symlink("..", app.path().join("assets/loop")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("notes.txt"), "not part of the app ".repeat(512)).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), app.path().join("assets/elsewhere")).unwrap();
    let server = TestServer::start_serving(Settings::default(), app.path()).await;
    assert!(app.path().join("assets/logo.svg.br").exists());
    assert_eq!(fetch(&server, "/assets/logo.svg", "br").await.status(), StatusCode::OK);
    let written: Vec<_> =
        std::fs::read_dir(elsewhere.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(written, ["notes.txt"], "files written outside the app's directory");
}
