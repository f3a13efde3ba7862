//! The punktfunk/1 host: QUIC control plane (quinn, ALPN `pkf1`) plus the native-thread data plane.

pub mod audio_sender;
mod control_stream;
pub mod data_plane;
mod feedback_stats;
mod input;
mod library_messages;
mod operator_controls;
mod session;
pub mod session_audio;
pub mod session_control;
mod trust;
mod video_framer;
pub mod webtransport;

use crate::services::identity::HostIdentity;
use crate::services::per_ip::{ConnectionLimiter, ConnectionSlot};
use crate::shared::host_context::HostContext;
use anyhow::{Context, Result};
use data_plane::DataPlane;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use punktfunk_core::DEFAULT_PORT;

/// Where frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// Test sources at the client's mode and bitrate: raw test frames, or a moving pattern encoded
    /// with the client's codec (no compositor needed).
    Virtual,
    /// Each client's own virtual display on the detected compositor (or our own headless sway),
    /// captured and encoded.
    Display,
}

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub bind: SocketAddr,
    /// Data-plane port; `None` = QUIC port + 1 (or any free port when the QUIC port is 0).
    pub data_port: Option<u16>,
    pub max_sessions: usize,
    pub source: SourceKind,
    /// A session whose client sends no feedback for this long is torn down.
    pub feedback_timeout: Duration,
}

/// QUIC connections (handshakes, pairings and sessions) at once, in total and from one address:
/// one machine cannot hold every slot, and sessions (at most 64) always leave room.
const MAX_CONNECTIONS: usize = 128;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 8;
/// With this many connections open, an address that has not proven it receives our packets must
/// do so first (a stateless Retry): a flood from forged source addresses then costs one small
/// packet each and holds no slot.
const RETRY_ABOVE: usize = 16;
/// Connection attempts quinn keeps waiting for [`Listener::run`] at most; more are refused by
/// quinn itself (each holds up to a datagram plus [`INCOMING_BUFFER`]).
const MAX_INCOMING: usize = 256;
/// Early packets buffered per waiting attempt, and for all of them together.
const INCOMING_BUFFER: u64 = 64 * 1024;
const INCOMING_BUFFER_TOTAL: u64 = 4 * 1024 * 1024;

/// Live sessions, shared with whoever reports status.
#[derive(Default)]
pub struct SessionCounter(AtomicUsize);

impl SessionCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A bound punktfunk/1 listener: both sockets are open, nothing is served yet.
pub struct Listener {
    endpoint: quinn::Endpoint,
    shared: Arc<session::Shared>,
    pub quic_addr: SocketAddr,
    pub data_port: u16,
}

impl Listener {
    /// Binds the QUIC endpoint and the data-plane socket.
    pub fn bind(config: ListenerConfig, host: Arc<HostContext>) -> Result<Listener> {
        let identity = &host.identity;
        let endpoint = quinn::Endpoint::server(server_config(identity)?, config.bind)
            .with_context(|| format!("binding the QUIC port {}", config.bind))?;
        let quic_addr = endpoint.local_addr()?;
        let data_port = match config.data_port {
            Some(p) => p,
            None if config.bind.port() == 0 => 0,
            None => quic_addr
                .port()
                .checked_add(1)
                .context("QUIC port 65535 leaves no room for the data port")?,
        };
        let data = Arc::new(DataPlane::bind(SocketAddr::new(
            config.bind.ip(),
            data_port,
        ))?);
        let data_port = data.local_addr()?.port();
        tracing::info!(
            quic = %quic_addr, data_port, source = ?config.source, max_sessions = config.max_sessions,
            fingerprint = %identity.fingerprint(), "punktfunk/1 listening"
        );
        // Machine-readable line for scripts and tests.
        crate::services::status_line::status_line!(
            "READY quic={quic_addr} data_port={data_port} fingerprint={}",
            identity.fingerprint()
        );
        let shared = Arc::new(session::Shared {
            data,
            data_port,
            config,
            sessions: Arc::new(SessionCounter::default()),
            host,
        });
        Ok(Listener {
            endpoint,
            shared,
            quic_addr,
            data_port,
        })
    }

    /// Binds the browser client's WebTransport endpoint on the listener's address: `port`, else
    /// the QUIC port + 2 (any free port when the QUIC port is 0).
    pub fn webtransport(&self, port: Option<u16>) -> Result<webtransport::WebTransportEndpoint> {
        let port = match port {
            Some(p) => p,
            None if self.quic_addr.port() == 0 || self.shared.config.bind.port() == 0 => 0,
            None => self
                .quic_addr
                .port()
                .checked_add(2)
                .context("QUIC port 65534 leaves no room for the WebTransport port")?,
        };
        webtransport::WebTransportEndpoint::bind(
            SocketAddr::new(self.shared.config.bind.ip(), port),
            self.shared.clone(),
        )
    }

    /// Serves clients until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let Listener {
            endpoint, shared, ..
        } = self;
        let limiter = ConnectionLimiter::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let Some((incoming, slot)) = admit(incoming, &limiter) else { continue };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let remote = incoming.remote_address();
                        if let Err(e) = session::serve_connection(incoming, shared).await {
                            tracing::info!(%remote, "session ended: {e:#}");
                        }
                    });
                }
            }
        }
        endpoint.close(0u32.into(), b"host shutting down");
        endpoint.wait_idle().await;
        Ok(())
    }
}

/// Decides what happens to a connection attempt before any handshake work: a slot for it, or a
/// Retry (unvalidated address while busy, or one that already holds a connection), or a refusal
/// (over a limit). `None` means the attempt was answered here and is done with.
fn admit(
    incoming: quinn::Incoming,
    limiter: &ConnectionLimiter,
) -> Option<(quinn::Incoming, ConnectionSlot)> {
    let remote = incoming.remote_address();
    let ip = remote.ip();
    let busy = limiter.in_use() >= RETRY_ABOVE || limiter.in_use_by(ip) > 0;
    if busy && !incoming.remote_address_validated() {
        tracing::debug!(%remote, "punktfunk/1: asking an unvalidated address to retry first");
        // An unvalidated attempt may always be retried; should quinn disagree, drop it silently.
        if let Err(e) = incoming.retry() {
            e.into_incoming().ignore();
        }
        return None;
    }
    match limiter.admit(remote, "punktfunk/1") {
        Some(slot) => Some((incoming, slot)),
        None => {
            incoming.refuse();
            None
        }
    }
}

fn server_config(identity: &HostIdentity) -> Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Every client shows its own certificate; who may do what with it is decided after the
    // handshake (trust::authorize_client).
    let clients =
        Arc::new(crate::shared::client_cert_auth::SelfSignedClientAuth::required(&provider));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(clients)
        .with_single_cert(vec![identity.cert.clone()], identity.key_der())?;
    tls.alpn_protocols = vec![punktfunk_core::control::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(Duration::from_secs(10).try_into()?));
    transport.keep_alive_interval(Some(Duration::from_secs(1)));
    transport.max_concurrent_bidi_streams(4u32.into());
    transport.max_concurrent_uni_streams(4u32.into());
    config.transport_config(Arc::new(transport));
    config
        .max_incoming(MAX_INCOMING)
        .incoming_buffer_size(INCOMING_BUFFER)
        .incoming_buffer_size_total(INCOMING_BUFFER_TOTAL);
    Ok(config)
}
