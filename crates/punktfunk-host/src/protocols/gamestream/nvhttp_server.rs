//! The nvhttp listeners: plain HTTP on the base port, HTTPS (mutual TLS) five below it. HTTP/1.1 only,
//! one request per connection (GameStream clients expect the host to close), bounded in number (in
//! total and per address) and in how long a client may take for its TLS handshake and request head,
//! so a slow or hostile peer cannot pin the host.

use super::Shared;
use super::routes::{self, Answer};
use super::transport::Transport;
use crate::services::per_ip::ConnectionLimiter;
use crate::shared::client_cert_auth::SelfSignedClientAuth;
use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// The HTTPS port is the HTTP (base) port minus this.
pub const HTTPS_OFFSET: u16 = 5;
/// Concurrent connections over both ports; more are closed at once. Many times the per-address cap,
/// so a handful of hostile machines on the LAN, each held to its own share, cannot take them all.
const MAX_CONNECTIONS: usize = 256;
/// Concurrent connections from one address: Moonlight asks a few things at once (server info, app
/// list, box art); one machine cannot take every slot.
const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;
/// Time for the TLS handshake, and then for the request head: a LAN client needs milliseconds, so
/// a silent connection gives its slot back soon.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection may live at all: the slowest legitimate request (pairing's first phase
/// waits for the PIN) plus room to answer. Catches a peer that never reads the answer.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(super::pairing::PIN_WAIT.as_secs() + 30);

pub struct Listeners {
    http: TcpListener,
    https: TcpListener,
    pub http_addr: SocketAddr,
    pub https_addr: SocketAddr,
}

/// Binds both ports (`base` for HTTP, `base − 5` for HTTPS) on `bind`.
pub async fn bind(bind: IpAddr, base: u16) -> Result<Listeners> {
    let https_port = base
        .checked_sub(HTTPS_OFFSET)
        .filter(|&p| p > 0)
        .with_context(|| {
            format!("GameStream port base {base} leaves no room for HTTPS at base − {HTTPS_OFFSET}")
        })?;
    let http = TcpListener::bind((bind, base))
        .await
        .with_context(|| format!("binding GameStream HTTP on {bind} port {base}"))?;
    let https = TcpListener::bind((bind, https_port))
        .await
        .with_context(|| format!("binding GameStream HTTPS on {bind} port {https_port}"))?;
    Ok(Listeners {
        http_addr: http.local_addr()?,
        https_addr: https.local_addr()?,
        http,
        https,
    })
}

fn tls_acceptor(shared: &Shared) -> Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(SelfSignedClientAuth::optional(&provider)))
        .with_single_cert(
            vec![shared.identity.cert_der.clone()],
            shared.identity.key_der(),
        )
        .context("GameStream TLS configuration")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves both listeners until `stop` turns true; open connections are cut then.
pub async fn run(
    listeners: Listeners,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let tls = tls_acceptor(&shared)?;
    let limiter = ConnectionLimiter::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS);
    let mut connections = JoinSet::new();
    loop {
        let (accepted, https) = tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            a = listeners.http.accept() => (a, false),
            a = listeners.https.accept() => (a, true),
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("GameStream accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = limiter.admit(peer, "GameStream") else {
            continue;
        };
        let local_ip = match stream.local_addr() {
            Ok(addr) => addr.ip(),
            Err(_) => continue,
        };
        let shared = shared.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            let served = tokio::time::timeout(CONNECTION_DEADLINE, async move {
            if !https {
                let transport = Transport {
                    https: false,
                    paired_id: None,
                    local_ip,
                    remote_ip: peer.ip(),
                };
                serve(stream, shared, transport).await;
                return;
            }
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "GameStream TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "GameStream: no TLS handshake within {} s; closing", HANDSHAKE_TIMEOUT.as_secs());
                    return;
                }
            };
            let paired_id = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| shared.clients.paired_id(cert));
            let transport = Transport {
                https: true,
                paired_id,
                local_ip,
                remote_ip: peer.ip(),
            };
            serve(stream, shared, transport).await;
            })
            .await;
            if served.is_err() {
                tracing::debug!(%peer, "GameStream connection cut after {} s", CONNECTION_DEADLINE.as_secs());
            }
        });
    }
    connections.shutdown().await;
    Ok(())
}

async fn serve<S>(io: S, shared: Arc<Shared>, transport: Transport)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let transport = Arc::new(transport);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        let transport = transport.clone();
        async move { Ok::<_, Infallible>(respond(&shared, &transport, &request).await) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = result {
        tracing::debug!("GameStream connection ended: {e}");
    }
}

async fn respond(
    shared: &Shared,
    transport: &Transport,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let answer = if request.method() != Method::GET {
        Answer::Xml(punktfunk_core::gamestream::nvhttp::error_xml(
            405,
            "GameStream requests are GET",
        ))
    } else {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        routes::answer(shared, target, transport).await
    };
    // The HTTP status is always 200: GameStream clients read `status_code` from the XML, and some
    // treat any other HTTP status as a network failure rather than showing the message.
    let (content_type, body) = match answer {
        Answer::Xml(xml) => ("application/xml; charset=utf-8", Bytes::from(xml)),
        Answer::Image(content_type, bytes) => (content_type, Bytes::from(bytes)),
    };
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
