//! The accept loop (and its graceful end): hyper with a header-read timer (which also closes idle keep-alive connections), a whole
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
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;

use crate::config::ConnectionLimits;
use per_address::PerAddress;
use stalled_writes::StalledWritesEnd;

const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Serves `router` on `listener` for as long as the process lives.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits) -> io::Result<()> {
    serve_until(listener, router, limits, std::future::pending(), Duration::MAX).await
}

/// Serves `router` on `listener` until `stop` resolves; then accepts no more, lets every connection finish the
/// request it is answering (an idle keep-alive connection is closed), and returns once they are all done, or
/// after `drain` at most (what is still running is dropped).
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    limits.validate().map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    let router = router.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_connections_per_address, &limits.unlimited_peers);
    let mut at_capacity = false;
    let (stopping, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        // Finished connections are collected as we go, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
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
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let _held = (permit, counted);
            let connection = builder.serve_connection(io, TowerToHyperService::new(service));
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = async { drop(stopped.wait_for(|stopped| *stopped).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %peer, "connection ended");
            }
        });
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(open, "stopping: no new connections; letting the open ones finish");
    let _ = stopping.send(true);
    if tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(left = connections.len(), "stopping: connections still busy after the drain time are dropped");
        connections.abort_all();
    }
    Ok(())
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
