//! The HTTPS server: TCP listener, TLS with the host identity (rustls, aws-lc-rs provider only),
//! HTTP/1.1 or HTTP/2 by ALPN, one task per connection, each request tagged with its peer address
//! (the auth layer needs it), graceful shutdown.

use crate::mgmt::state::ApiState;
use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The remote address of the connection a request came in on.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Open connections at most; more are closed at once (keeps file descriptors for the streams).
const MAX_CONNECTIONS: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long open connections (event streams) get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

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
        crate::status_line::status_line!("API https://{addr}");
    }

    /// Serves until `shutdown` resolves, then gives open connections a moment to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => break,
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
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "management API: too many connections; closing this one");
                continue;
            };
            let acceptor = self.acceptor.clone();
            let app = self.app.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _slot = slot;
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "management API TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "management API TLS handshake timed out");
                        return;
                    }
                };
                let service = app.map_request(move |mut request: axum::extract::Request<_>| {
                    request.extensions_mut().insert(Peer(peer));
                    request
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                let connection =
                    builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(service));
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!(%peer, "management API connection ended: {e}");
                }
            });
        }
        drop(self.listener);
        self.state.begin_closing();
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::debug!("management API: closing connections still open after shutdown");
        }
        Ok(())
    }
}
