//! The HTTPS server: TCP listener, TLS with the host identity (rustls, aws-lc-rs provider only),
//! HTTP/1.1 or HTTP/2 by ALPN, one task per connection, each request tagged with its peer address
//! (the auth layer needs it), graceful shutdown.
//!
//! Hostile-network limits: at most [`MAX_CONNECTIONS`] connections, [`MAX_CONNECTIONS_PER_ADDRESS`]
//! of them from one address ([`crate::services::per_ip`]), and every stage has a deadline — TLS handshake,
//! request head, request body, idle time between requests ([`super::deadlines`]) — so silent
//! connections give their slots back and the console, the API and `punktfunk-host pair` keep
//! answering.

pub use super::peer::Peer;
use crate::mgmt::deadlines::{Activity, BODY_TIMEOUT, DeadlineBody, IDLE_TIMEOUT, TrackedBody};
use crate::mgmt::state::ApiState;
use crate::services::per_ip::{ConnectionLimiter, ConnectionSlot};
use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Open connections at most; more are closed at once (keeps file descriptors for the streams).
pub const MAX_CONNECTIONS: usize = 256;
/// Open connections from one address at most (a browser needs a handful, an HTTP/2 one only one).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;
/// Time for the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a request head (HTTP/1.1), from its first byte or the end of the previous response.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 streams open at once on one connection.
const MAX_STREAMS: u32 = 64;
/// HTTP/2 pings while a connection is open: a peer that vanished (with an event stream open, which
/// never goes idle) is noticed and its slot freed.
const H2_PING_INTERVAL: Duration = Duration::from_secs(15);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections (event streams) get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection told to close (idle, or shutdown) may take to finish what it is sending.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub struct ApiServer {
    state: ApiState,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    local_addr: SocketAddr,
}

fn tls_config(state: &ApiState) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![state.host.identity.cert.clone()],
            state.host.identity.key_der(),
        )
        .context("loading the host identity into TLS")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl ApiServer {
    /// Binds the listener (port 0 picks a free one); nothing is served until [`ApiServer::run`].
    pub async fn bind(state: ApiState, bind: SocketAddr) -> Result<ApiServer> {
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(&state)?));
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the management API to {bind}"))?;
        let local_addr = listener.local_addr()?;
        state.update_ports(|p| p.api = Some(local_addr.port()));
        Ok(ApiServer {
            app: crate::mgmt::app(state.clone()),
            state,
            listener,
            acceptor,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Logs the address and prints the machine-readable `API https://ADDR` line on stdout.
    pub fn announce(&self) {
        let addr = self.local_addr();
        tracing::info!(%addr, "management API and web console listening");
        crate::services::status_line::status_line!("API https://{addr}");
    }

    /// Serves until `shutdown` resolves, then gives open connections a moment to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let limiter = ConnectionLimiter::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => break,
                // Reap finished connection tasks so the set does not grow without bound.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("management API accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = limiter.admit(peer, "management API") else {
                continue;
            };
            connections.spawn(serve_connection(
                tcp,
                peer,
                slot,
                self.acceptor.clone(),
                self.app.clone(),
                stop_rx.clone(),
            ));
        }
        drop(self.listener);
        self.state.begin_closing();
        stop_tx.send_replace(true);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::debug!("management API: closing connections still open after shutdown");
        }
        connections.shutdown().await;
        Ok(())
    }
}

/// One connection from TLS handshake to close; `_slot` is its place in the connection limits.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    _slot: ConnectionSlot,
    acceptor: TlsAcceptor,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "management API TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "management API: no TLS handshake within {} s; closing", HANDSHAKE_TIMEOUT.as_secs());
            return;
        }
    };
    // ALPN decides the protocol (HTTP/2 over TLS requires it), so no read waits to detect it.
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let activity = Activity::new();
    let tracked = activity.clone();
    let service = tower::service_fn(
        move |request: axum::extract::Request<hyper::body::Incoming>| {
            let in_flight = tracked.begin();
            let app = app.clone();
            let mut request =
                request.map(|body| axum::body::Body::new(DeadlineBody::new(body, BODY_TIMEOUT)));
            request.extensions_mut().insert(Peer(peer));
            async move {
                let response = app.oneshot(request).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| axum::body::Body::new(TrackedBody::new(body, in_flight))),
                )
            }
        },
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let connection = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let why = tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "management API connection ended: {e}");
            }
            return;
        }
        _ = activity.idle_for(IDLE_TIMEOUT) => "idle",
        _ = stop.wait_for(|&s| s) => "the host is shutting down",
    };
    tracing::debug!(%peer, "management API: closing the connection ({why})");
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(CLOSE_GRACE, connection.as_mut()).await {
        Ok(Err(e)) => tracing::debug!(%peer, "management API connection ended: {e}"),
        Ok(Ok(())) => {}
        Err(_) => tracing::debug!(%peer, "management API: connection cut after the close grace"),
    }
}
