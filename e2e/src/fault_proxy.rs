//! A small HTTP/1.1 proxy between the browser and the server that can hold or lose the refresh, as a flaky
//! network does: every request is forwarded on a connection of its own (`Connection: close`), and a refresh can
//! be held before it reaches the server, or after the server answered (so the server has rotated, but the
//! browser has not heard).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_contract::paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What to do to the next refresh.
#[derive(Debug, Clone, Copy)]
pub enum RefreshFault {
    /// Forward it, let the server answer, withhold the answer this long, then close the connection.
    LoseTheAnswer(Duration),
    /// Hold it before it reaches the server, until [`FaultProxy::release`].
    HoldTheRequest,
    /// Forward it, let the server answer, and hold the answer until [`FaultProxy::release`].
    HoldTheAnswer,
}

/// A proxy between the browser and the server that forwards one request per connection, can hold or lose a
/// refresh, and, given several upstreams, sends each request to the next (round robin).
pub struct FaultProxy {
    pub base_url: String,
    next_refresh: Arc<Mutex<Option<RefreshFault>>>,
    released: Arc<Notify>,
    /// How many refreshes reached the proxy.
    refreshes: Arc<Mutex<u32>>,
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
            next_refresh: Arc::default(),
            released: Arc::default(),
            refreshes: Arc::default(),
        };
        let (next_refresh, released, refreshes) =
            (Arc::clone(&proxy.next_refresh), Arc::clone(&proxy.released), Arc::clone(&proxy.refreshes));
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((browser, _)) = listener.accept().await {
                let upstream = upstreams[next % upstreams.len()];
                next += 1;
                let connection = Connection {
                    upstream,
                    next_refresh: Arc::clone(&next_refresh),
                    released: Arc::clone(&released),
                    refreshes: Arc::clone(&refreshes),
                };
                tokio::spawn(connection.forward(browser));
            }
        });
        proxy
    }

    /// Arms a fault for the next refresh that passes.
    pub fn on_next_refresh(&self, fault: RefreshFault) {
        *self.next_refresh.lock().expect("not poisoned") = Some(fault);
    }

    /// Lets a held refresh (or its answer) go on.
    pub fn release(&self) {
        self.released.notify_one();
    }

    pub fn refreshes(&self) -> u32 {
        *self.refreshes.lock().expect("not poisoned")
    }
}

struct Connection {
    upstream: SocketAddr,
    next_refresh: Arc<Mutex<Option<RefreshFault>>>,
    released: Arc<Notify>,
    refreshes: Arc<Mutex<u32>>,
}

impl Connection {
    async fn forward(self, mut browser: TcpStream) {
        let Some((request, path)) = read_request(&mut browser).await else { return };
        let fault = if path == paths::REFRESH {
            *self.refreshes.lock().expect("not poisoned") += 1;
            self.next_refresh.lock().expect("not poisoned").take()
        } else {
            None
        };
        if let Some(RefreshFault::HoldTheRequest) = fault {
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
            Some(RefreshFault::LoseTheAnswer(hold)) => {
                tokio::time::sleep(hold).await;
                return;
            }
            Some(RefreshFault::HoldTheAnswer) => self.released.notified().await,
            _ => {}
        }
        let _ = browser.write_all(&answer).await;
        let _ = browser.shutdown().await;
    }
}

/// One whole request (head and `Content-Length` body), rewritten to close its connection after the answer;
/// and its path.
async fn read_request(browser: &mut TcpStream) -> Option<(Vec<u8>, String)> {
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
    let path = head.split_whitespace().nth(1)?.to_owned();
    let kept: Vec<&str> = head.lines().filter(|line| !line.to_ascii_lowercase().starts_with("connection:")).collect();
    let mut request = format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).into_bytes();
    request.extend_from_slice(&bytes[head_end + 4..]);
    Some((request, path))
}
