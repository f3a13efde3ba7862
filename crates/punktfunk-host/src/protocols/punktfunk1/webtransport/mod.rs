//! punktfunk/1 for browsers: a WebTransport (HTTP/3) endpoint beside the native QUIC listener, for
//! the page the host serves (web/play.html). Same control messages and session plan as a native
//! client; the page authorizes with a one-time ticket from the management API instead of a client
//! certificate, and frames travel whole on their own streams instead of the UDP data plane.

mod certificate;
mod frame_output;
mod session;

use super::session::Shared;
use crate::services::per_ip::ConnectionLimiter;
use crate::shared::browser_access::BrowserEndpoint;
use anyhow::{Context, Result};
use certificate::{EndpointCertificate, ROTATE_EVERY};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Browser connections at once, in total and from one address.
const MAX_CONNECTIONS: usize = 32;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 4;

pub struct WebTransportEndpoint {
    endpoint: wtransport::Endpoint<wtransport::endpoint::endpoint_side::Server>,
    shared: Arc<Shared>,
    bind: SocketAddr,
    pub addr: SocketAddr,
}

fn server_config(bind: SocketAddr, cert: &EndpointCertificate) -> wtransport::ServerConfig {
    wtransport::ServerConfig::builder()
        .with_bind_address(bind)
        .with_identity(cert.identity.clone_identity())
        .keep_alive_interval(Some(Duration::from_secs(1)))
        .max_idle_timeout(Some(Duration::from_secs(10)))
        .expect("10 s is a valid idle timeout")
        .build()
}

impl WebTransportEndpoint {
    pub(super) fn bind(bind: SocketAddr, shared: Arc<Shared>) -> Result<WebTransportEndpoint> {
        let cert = EndpointCertificate::fresh(SystemTime::now())?;
        let endpoint = wtransport::Endpoint::server(server_config(bind, &cert))
            .with_context(|| format!("binding the WebTransport port {bind}"))?;
        let addr = endpoint.local_addr()?;
        shared.host.browser.set_endpoint(Some(BrowserEndpoint {
            port: addr.port(),
            certificate_sha256: cert.sha256,
        }));
        tracing::info!(%addr, "browser client: WebTransport listening");
        crate::services::status_line::status_line!("WEBTRANSPORT {addr}");
        Ok(WebTransportEndpoint {
            endpoint,
            shared,
            bind: SocketAddr::new(bind.ip(), addr.port()),
            addr,
        })
    }

    /// Serves browsers until `shutdown` resolves; a new certificate every [`ROTATE_EVERY`].
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let limiter = ConnectionLimiter::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS);
        let mut rotate =
            tokio::time::interval_at(tokio::time::Instant::now() + ROTATE_EVERY, ROTATE_EVERY);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = rotate.tick() => self.rotate(),
                incoming = self.endpoint.accept() => {
                    let remote = incoming.remote_address();
                    let Some(slot) = limiter.admit(remote, "browser") else {
                        incoming.refuse();
                        continue;
                    };
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = session::serve(incoming, shared).await {
                            tracing::info!(%remote, "browser session ended: {e:#}");
                        }
                    });
                }
            }
        }
        self.shared.host.browser.set_endpoint(None);
        self.endpoint.close(0u32.into(), b"host shutting down");
        self.endpoint.wait_idle().await;
        Ok(())
    }

    /// Swaps in a fresh certificate (sessions already open keep theirs) and publishes its hash.
    fn rotate(&self) {
        let rotated = EndpointCertificate::fresh(SystemTime::now()).and_then(|cert| {
            self.endpoint
                .reload_config(server_config(self.bind, &cert), false)
                .context("reloading the WebTransport endpoint")?;
            Ok(cert.sha256)
        });
        match rotated {
            Ok(sha256) => {
                self.shared.host.browser.set_endpoint(Some(BrowserEndpoint {
                    port: self.addr.port(),
                    certificate_sha256: sha256,
                }));
                tracing::info!("browser client: new WebTransport certificate");
            }
            Err(e) => tracing::warn!("browser client: keeping the old certificate: {e:#}"),
        }
    }
}
