//! The accept loop: hyper with a header-read timer (which also closes idle keep-alive connections), a whole
//! request timeout, a bound on answers the client does not read, and caps on open connections, in all and per
//! client address.

mod per_address;
mod stalled_writes;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

use crate::config::ConnectionLimits;
use per_address::PerAddress;
use stalled_writes::StalledWritesEnd;

const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Serves `router` on `listener` until the listener fails for good.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits) -> io::Result<()> {
    limits.validate().map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let router = router.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_connections_per_address, &limits.unlimited_peers);
    let mut at_capacity = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, typically: wait for some to close rather than spin.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            if !at_capacity {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection cap reached: new connections are answered 503 until others close"
                );
                at_capacity = true;
            }
            tokio::spawn(refuse(stream));
            continue;
        };
        if at_capacity {
            tracing::info!("below the connection cap again");
            at_capacity = false;
        }
        let Some(counted) = per_address.admit(peer.ip()) else {
            tracing::debug!(%peer, limit = limits.max_connections_per_address, "connection cap per address reached");
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = router.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let io = TokioIo::new(StalledWritesEnd::new(stream, limits.write_timeout));
        tokio::spawn(async move {
            let _held = (permit, counted);
            let connection = builder.serve_connection(io, TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended");
            }
        });
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(OVER_CAPACITY)).await;
    let _ = stream.shutdown().await;
}

/// Raises this process's open-file limit to its hard limit, so the connection cap (not the descriptor table) is
/// what bounds connections; returns the limit now in force.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
