//! Pairing with a host: the client's side of the SPAKE2 PIN exchange (`punktfunk_core::pairing`)
//! over a punktfunk/1 control stream. On success the host has stored this client's certificate and
//! the caller may pin the host's — both proven by the PIN, and bound to the certificates each side
//! saw, so a machine in the middle cannot complete it.

use crate::identity::ClientIdentity;
use crate::session::split_host_port;
use crate::tls::{self, PinnedVerifier};
use punktfunk_core::control::{FrameBuffer, Message, frame};
use punktfunk_core::pairing::{ClientPairing, fingerprint_of, parse_fingerprint};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long the host may take for each step.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("host certificate fingerprint mismatch: expected {expected}, got {got}")]
    FingerprintMismatch { expected: String, got: String },
    /// The host said no: wrong PIN, no PIN armed, expired, used, rate-limited (its reason).
    #[error("host refused pairing: {0}")]
    Refused(String),
    /// The host's proof did not check out: it does not know the PIN, or it is not the certificate
    /// it presented. Nothing is pinned.
    #[error("the host could not prove it knows the PIN; not trusting it (someone in between?)")]
    HostProofFailed,
    #[error("{0}")]
    Other(String),
}

impl PairError {
    /// Exit status for the probe: 3 = the host refused (e.g. wrong PIN), 2 = the host is not who it
    /// should be, 1 = anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            PairError::Refused(_) => 3,
            PairError::FingerprintMismatch { .. } | PairError::HostProofFailed => 2,
            PairError::Other(_) => 1,
        }
    }
}

fn other(context: &str, e: impl std::fmt::Display) -> PairError {
    PairError::Other(format!("{context}: {e}"))
}

pub struct PairOptions {
    /// `HOST[:PORT]`.
    pub host: String,
    pub pin: String,
    /// The name the host lists this client under.
    pub name: String,
    /// A fingerprint the host must have (normalised), e.g. one pinned before; `None` = any.
    pub expected_fingerprint: Option<String>,
    pub identity: Arc<ClientIdentity>,
}

/// What a successful pairing established.
#[derive(Debug, Clone)]
pub struct Paired {
    /// `HOST:PORT` key for the known-hosts file.
    pub host_key: String,
    /// The host's certificate fingerprint (lowercase hex), now safe to pin.
    pub host_fingerprint: String,
}

struct Control {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    frames: FrameBuffer,
}

impl Control {
    async fn send(&mut self, m: &Message) -> Result<(), PairError> {
        self.send
            .write_all(&frame(&m.encode()))
            .await
            .map_err(|e| other("control stream", e))
    }

    /// The next message; a Goodbye is the host's refusal.
    async fn next(&mut self, what: &str) -> Result<Message, PairError> {
        let read = async {
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(body) = self
                    .frames
                    .next_body()
                    .map_err(|e| other("control stream", e))?
                {
                    return Message::decode(&body).map_err(|e| other(&format!("bad {what}"), e));
                }
                match self.recv.read(&mut chunk).await {
                    Ok(Some(n)) => self.frames.extend(&chunk[..n]),
                    Ok(None) => {
                        return Err(PairError::Other(format!(
                            "host closed the control stream before {what}"
                        )));
                    }
                    Err(e) => return Err(other(&format!("waiting for {what}"), e)),
                }
            }
        };
        let message = tokio::time::timeout(STEP_TIMEOUT, read)
            .await
            .map_err(|_| {
                PairError::Other(format!("no {what} within {} s", STEP_TIMEOUT.as_secs()))
            })??;
        match message {
            Message::Goodbye { reason } => Err(PairError::Refused(reason)),
            m => Ok(m),
        }
    }
}

/// Pairs with the host using `opts.pin`.
pub async fn pair(opts: PairOptions) -> Result<Paired, PairError> {
    let (host, port) = split_host_port(&opts.host).map_err(PairError::Other)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| other(&format!("resolving {host}"), e))?
        .next()
        .ok_or_else(|| PairError::Other(format!("{host} has no address")))?;
    let verifier = Arc::new(PinnedVerifier::new(opts.expected_fingerprint.clone()));
    let mut config = tls::quic_client_config(verifier.clone(), Some(&opts.identity))
        .map_err(|e| other("TLS", e))?;
    let bind: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| other("UDP socket", e))?;
    let mut transport = quinn::TransportConfig::default();
    // A pairing is a few round trips: give up on a silent host in seconds, not quinn's 30 s.
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(STEP_TIMEOUT)
            .unwrap_or_else(|_| unreachable!("10 s is a valid idle timeout")),
    ));
    config.transport_config(std::sync::Arc::new(transport));
    endpoint.set_default_client_config(config);
    let conn = match endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| other(&format!("connecting to {addr}"), e))?
        .await
    {
        Ok(conn) => conn,
        Err(e) => {
            if let Some((expected, got)) = verifier.mismatch() {
                return Err(PairError::FingerprintMismatch { expected, got });
            }
            return Err(other(&format!("QUIC connection to {addr}"), e));
        }
    };
    let host_hex = verifier.seen().unwrap_or_default();
    let result = exchange(&conn, &opts, &host_hex).await;
    let code: u32 = if result.is_ok() { 0 } else { 1 };
    conn.close(code.into(), b"pairing over");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    result.map(|()| Paired {
        host_key: crate::known_hosts::host_key(&host, port),
        host_fingerprint: host_hex,
    })
}

async fn exchange(
    conn: &quinn::Connection,
    opts: &PairOptions,
    host_hex: &str,
) -> Result<(), PairError> {
    let host_fp = parse_fingerprint(host_hex)
        .ok_or_else(|| PairError::Other("the host presented no certificate".into()))?;
    let client_fp = fingerprint_of(opts.identity.cert.as_ref());
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| other("control stream", e))?;
    let mut control = Control {
        send,
        recv,
        frames: FrameBuffer::new(),
    };
    let (state, spake) = ClientPairing::start(&opts.pin, &client_fp, &host_fp);
    control
        .send(&Message::PairStart {
            client_name: opts.name.clone(),
            spake,
        })
        .await?;
    let spake_b = match control.next("PairChallenge").await? {
        Message::PairChallenge { spake } => spake,
        m => {
            return Err(PairError::Other(format!(
                "expected PairChallenge, got {m:?}"
            )));
        }
    };
    let (state, mac) = state
        .on_challenge(&spake_b)
        .map_err(|e| other("host's pairing message", e))?;
    control.send(&Message::PairConfirm { mac }).await?;
    let host_mac = match control.next("PairDone").await? {
        Message::PairDone { mac } => mac,
        m => return Err(PairError::Other(format!("expected PairDone, got {m:?}"))),
    };
    state
        .on_done(&host_mac)
        .map_err(|_| PairError::HostProofFailed)?;
    let _ = control.send.finish();
    Ok(())
}
