//! Debian's nginx terminating TLS in front of the instances, run with the configuration docs/operations.md gives
//! operators to copy: the block is read from that file, and only its addresses, port and certificate paths change.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_server::testing::{free_port, wait_until};

/// The folder with `ca.crt`, `server.crt` and `server.key` (for `127.0.0.1` and `app.example`), made for the run
/// by `cargo xtask test`.
pub const CERTIFICATES_VARIABLE: &str = "E2E_TLS";
/// nginx's path, when it is not Debian's.
const NGINX_VARIABLE: &str = "NGINX";

/// What the example names, and what the test puts in its place.
const EXAMPLE_UPSTREAMS: [&str; 2] = ["10.0.0.11:8080", "10.0.0.12:8080"];
const EXAMPLE_HTTPS_LISTEN: &str = "listen 443 ssl http2;";
const EXAMPLE_HTTP_LISTEN: &str = "listen 80;";
const EXAMPLE_CERTIFICATE: &str = "/etc/ssl/app.example/fullchain.pem";
const EXAMPLE_KEY: &str = "/etc/ssl/app.example/privkey.pem";

/// nginx in the foreground, one process, killed when dropped.
pub struct TlsProxy {
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// `http://127.0.0.1:<port>`: the example's plain-HTTP server, which sends everyone to HTTPS.
    pub http_url: String,
    nginx: Child,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    /// nginx on `127.0.0.1:port` with TLS (the port chosen by the caller, whose instances must know their public
    /// URL first), sending requests to `upstreams` (`http://host:port`) in turn; started once it answers
    /// `GET /health/ready` over TLS with the run's certificate.
    pub async fn start(port: u16, upstreams: &[String]) -> Self {
        assert_eq!(upstreams.len(), EXAMPLE_UPSTREAMS.len(), "the example has two instances");
        let certificates = certificates_dir();
        let dir = tempfile::tempdir().expect("a folder for nginx");
        let mut site = operators_example();
        for (example, upstream) in EXAMPLE_UPSTREAMS.iter().zip(upstreams) {
            site = replace_once(&site, example, upstream.trim_start_matches("http://"));
        }
        site = replace_once(&site, EXAMPLE_HTTPS_LISTEN, &format!("listen 127.0.0.1:{port} ssl http2;"));
        let http_port = free_port();
        site = replace_once(&site, EXAMPLE_HTTP_LISTEN, &format!("listen 127.0.0.1:{http_port};"));
        site = replace_once(&site, EXAMPLE_CERTIFICATE, &path_text(&certificates.join("server.crt")));
        site = replace_once(&site, EXAMPLE_KEY, &path_text(&certificates.join("server.key")));
        let config = dir.path().join("nginx.conf");
        std::fs::write(&config, main_config(dir.path(), &site)).expect("nginx's configuration is written");
        let error_log = dir.path().join("error.log");
        let nginx = Command::new(std::env::var(NGINX_VARIABLE).unwrap_or_else(|_| "/usr/sbin/nginx".to_owned()))
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start nginx: {error} (run `cargo xtask setup`)"));
        let mut proxy = Self {
            base_url: format!("https://127.0.0.1:{port}"),
            http_url: format!("http://127.0.0.1:{http_port}"),
            nginx,
            _dir: dir,
        };
        // Through nginx to an instance, over TLS checked against the run's CA: not merely something on the port.
        let client = Self::client_from(Ipv4Addr::LOCALHOST.into());
        let ready = format!("{}{}", proxy.base_url, session_contract::paths::HEALTH_READY);
        let answering = wait_until(Duration::from_secs(10), crate::POLL, async || {
            client.get(&ready).send().await.is_ok_and(|answer| answer.status().is_success())
        })
        .await;
        if answering.is_none() || proxy.nginx.try_wait().is_ok_and(|exited| exited.is_some()) {
            let log = std::fs::read_to_string(&error_log).unwrap_or_default();
            panic!("nginx did not start on port {port}:\n{log}");
        }
        proxy
    }

    /// An HTTPS client that trusts the run's CA and connects from `local` (another loopback address is another
    /// client to the proxy).
    pub fn client_from(local: std::net::IpAddr) -> reqwest::Client {
        Self::client().local_address(local).build().expect("an HTTPS client")
    }

    /// An HTTPS client that trusts the run's CA and finds `host` (a name in its certificate) at this proxy, as
    /// if the name were public; it follows no redirect.
    pub fn client_naming(&self, host: &str) -> reqwest::Client {
        // Port 0: the URL's own port is used.
        let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::client().resolve(host, proxy).redirect(reqwest::redirect::Policy::none()).build().expect("a client")
    }

    fn client() -> reqwest::ClientBuilder {
        let ca = std::fs::read(certificates_dir().join("ca.crt")).expect("the run's CA certificate");
        let ca = reqwest::Certificate::from_pem(&ca).expect("a PEM certificate");
        reqwest::Client::builder().add_root_certificate(ca).tls_built_in_root_certs(false)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

fn certificates_dir() -> PathBuf {
    std::env::var_os(CERTIFICATES_VARIABLE).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{CERTIFICATES_VARIABLE} names no folder of certificates: run these tests with `cargo xtask test`")
    })
}

/// The first ```nginx block of docs/operations.md.
fn operators_example() -> String {
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
    let text = std::fs::read_to_string(&guide).expect("docs/operations.md");
    let start = text.find("```nginx\n").expect("docs/operations.md shows an nginx configuration") + "```nginx\n".len();
    let length = text[start..].find("```").expect("the nginx block ends");
    text[start..start + length].to_owned()
}

/// `text` with its one `example` replaced: the example must still name it, or the test would run something else.
fn replace_once(text: &str, example: &str, with: &str) -> String {
    assert_eq!(text.matches(example).count(), 1, "docs/operations.md's nginx example should name {example:?} once");
    text.replacen(example, with, 1)
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// What Debian's `/etc/nginx/nginx.conf` provides around a site, in the test's own folder: one foreground process,
/// its files and logs there.
fn main_config(dir: &Path, site: &str) -> String {
    let dir = path_text(dir);
    format!(
        "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {dir}/body;\n    proxy_temp_path {dir}/proxy;\n    \
         fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n\
         {site}}}\n"
    )
}
