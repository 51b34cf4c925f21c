//! A small HTTP/1.1 proxy between the browser and the server that can hold or lose an answer, as a flaky
//! network does: every request is forwarded on a connection of its own (`Connection: close`), and the next
//! request to a path (the refresh, the logout) can be held before it reaches the server, or after the server
//! answered (so the server has acted, but the browser has not heard, and has not applied its `Set-Cookie`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_contract::paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What to do to the next request to a path.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Forward it, let the server answer, withhold the answer this long, then close the connection.
    LoseTheAnswer(Duration),
    /// Hold it before it reaches the server, until [`FaultProxy::release`].
    HoldTheRequest,
    /// Forward it, let the server answer, and hold the answer until [`FaultProxy::release`].
    HoldTheAnswer,
    /// Forward it, let the server answer, and hold the answer this long: a slow network.
    DelayTheAnswer(Duration),
}

/// The faults armed for the next request to each path.
type Armed = Arc<Mutex<Vec<(String, Fault)>>>;

/// A request as it reached the proxy: what a network observer (or a script in the page) could copy.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// A proxy between the browser and the server that forwards one request per connection, can hold or lose a
/// refresh, and, given several upstreams, sends each request to the next (round robin).
pub struct FaultProxy {
    pub base_url: String,
    armed: Armed,
    released: Arc<Notify>,
    /// Every request that reached the proxy, in order.
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        Self::round_robin(&[upstream.to_owned()]).await
    }

    /// Each request to the next of `upstreams` in turn, as a load balancer in front of several instances.
    pub async fn round_robin(upstreams: &[String]) -> Self {
        let upstreams: Vec<SocketAddr> = upstreams
            .iter()
            .map(|upstream| upstream.trim_start_matches("http://").parse().expect("the server listens on an address"))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("an ephemeral port");
        let address = listener.local_addr().expect("a bound address");
        let proxy = Self {
            base_url: format!("http://{address}"),
            armed: Arc::default(),
            released: Arc::default(),
            seen: Arc::default(),
        };
        let (armed, released, seen) = (Arc::clone(&proxy.armed), Arc::clone(&proxy.released), Arc::clone(&proxy.seen));
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((browser, _)) = listener.accept().await {
                let upstream = upstreams[next % upstreams.len()];
                next += 1;
                let connection = Connection {
                    upstream,
                    armed: Arc::clone(&armed),
                    released: Arc::clone(&released),
                    seen: Arc::clone(&seen),
                };
                tokio::spawn(connection.forward(browser));
            }
        });
        proxy
    }

    /// Arms a fault for the next refresh that passes.
    pub fn on_next_refresh(&self, fault: Fault) {
        self.on_next(paths::REFRESH, fault);
    }

    /// Arms a fault for the next request to `path` that passes.
    pub fn on_next(&self, path: &str, fault: Fault) {
        self.armed.lock().expect("not poisoned").push((path.to_owned(), fault));
    }

    /// Lets a held refresh (or its answer) go on.
    pub fn release(&self) {
        self.released.notify_one();
    }

    /// Faults armed that no request has met yet.
    pub fn armed(&self) -> usize {
        self.armed.lock().expect("not poisoned").len()
    }

    pub fn refreshes(&self) -> usize {
        self.requests_to(paths::REFRESH)
    }

    /// How many requests to `path` reached the proxy.
    pub fn requests_to(&self, path: &str) -> usize {
        self.seen.lock().expect("not poisoned").iter().filter(|seen| seen.path == path).count()
    }

    /// The last request to `path` that reached the proxy (held or not).
    pub fn last_request_to(&self, path: &str) -> Option<SeenRequest> {
        self.seen.lock().expect("not poisoned").iter().rev().find(|seen| seen.path == path).cloned()
    }
}

struct Connection {
    upstream: SocketAddr,
    armed: Armed,
    released: Arc<Notify>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Connection {
    async fn forward(self, mut browser: TcpStream) {
        let Some((request, seen)) = read_request(&mut browser).await else { return };
        let path = seen.path.clone();
        self.seen.lock().expect("not poisoned").push(seen);
        let fault = {
            let mut armed = self.armed.lock().expect("not poisoned");
            let at = armed.iter().position(|(armed_path, _)| *armed_path == path);
            at.map(|at| armed.remove(at).1)
        };
        if let Some(Fault::HoldTheRequest) = fault {
            self.released.notified().await;
        }
        let Ok(mut server) = TcpStream::connect(self.upstream).await else { return };
        if server.write_all(&request).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        if server.read_to_end(&mut answer).await.is_err() {
            return;
        }
        match fault {
            Some(Fault::LoseTheAnswer(hold)) => {
                tokio::time::sleep(hold).await;
                return;
            }
            Some(Fault::HoldTheAnswer) => self.released.notified().await,
            Some(Fault::DelayTheAnswer(hold)) => tokio::time::sleep(hold).await,
            _ => {}
        }
        let _ = browser.write_all(&answer).await;
        let _ = browser.shutdown().await;
    }
}

/// One whole request (head and `Content-Length` body), rewritten to close its connection after the answer;
/// and what it was.
async fn read_request(browser: &mut TcpStream) -> Option<(Vec<u8>, SeenRequest)> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        let read = browser.read(&mut buffer).await.ok().filter(|read| *read > 0)?;
        bytes.extend_from_slice(&buffer[..read]);
        if let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let body_length: usize = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while bytes.len() < head_end + 4 + body_length {
        let read = browser.read(&mut buffer).await.ok().filter(|read| *read > 0)?;
        bytes.extend_from_slice(&buffer[..read]);
    }
    let mut request_line = head.split_whitespace();
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let kept: Vec<&str> = head.lines().filter(|line| !line.to_ascii_lowercase().starts_with("connection:")).collect();
    let mut request = format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).into_bytes();
    request.extend_from_slice(&bytes[head_end + 4..]);
    Some((request, SeenRequest { method, path, headers }))
}
