//! Serving the router over HTTP/1.1 with hyper, with the limits that keep slow or greedy clients from
//! holding the server: a client must send a request's headers within
//! [`ConnectionLimits::header_read_timeout`] (on a new connection and between requests on a kept-alive
//! one), and one address may hold at most [`ConnectionLimits::connections_per_address`] connections (a
//! trusted proxy is exempt: it carries many clients). `axum::serve` sets neither, so slowloris clients
//! could keep connections open for ever. Graceful shutdown as before: stop accepting, let requests in
//! flight finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

use crate::client_address::TrustedProxies;

/// Limits on the connections of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection that has not sent a request's whole header this long after it opened (or after its
    /// last response) is closed.
    pub header_read_timeout: Duration,
    /// Connections one address may hold open at once; more are closed as soon as they are accepted.
    pub connections_per_address: usize,
}

/// How long a client has to send a request's headers by default: a person's browser sends them at once.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per address by default: a few browsers (about six connections each) behind one address.
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: usize = 64;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            connections_per_address: DEFAULT_CONNECTIONS_PER_ADDRESS,
        }
    }
}

/// Open connections per address.
#[derive(Debug, Default)]
struct OpenConnections {
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
#[derive(Debug)]
struct ConnectionSlot {
    open: Arc<OpenConnections>,
    address: IpAddr,
}

impl OpenConnections {
    fn take(self: &Arc<Self>, address: IpAddr, limit: usize) -> Option<ConnectionSlot> {
        let mut by_address = self.by_address.lock().unwrap_or_else(PoisonError::into_inner);
        let count = by_address.entry(address).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { open: Arc::clone(self), address })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut by_address = self.open.by_address.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve_router(
    router: Router,
    limits: ConnectionLimits,
    trusted_proxies: TrustedProxies,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(OpenConnections::default());
    // Every connection task holds a receiver; the sender learns when the last one is gone.
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait a little, go on.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let address = peer.ip().to_canonical();
        let limit = if trusted_proxies.contains(address) { usize::MAX } else { limits.connections_per_address };
        let Some(slot) = open.take(address, limit) else {
            tracing::warn!("closed a connection over the limit of its address");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let mut stop = stop_receiver.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|never| match never {})) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    // Shutting down: finish the request in flight (an idle connection closes at once).
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_receiver);
    let _ = stop_sender.send(true);
    stop_sender.closed().await;
    Ok(())
}
