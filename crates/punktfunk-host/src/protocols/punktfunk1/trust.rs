//! Who may open a punktfunk/1 session: every client presents its own self-signed certificate (TLS
//! client auth), and its SHA-256 is its identity. Paired clients go on to `Hello`; anyone else may
//! only pair with the PIN armed on the host (SPAKE2, see `punktfunk_core::pairing`) — or, on a host
//! running `--open`, is trusted on first use and remembered.

use super::control_stream::ControlReader;
use crate::services::events::HostEvent;
use crate::services::paired::{PairedDevice, now_unix};
use crate::shared::host_context::HostContext;
use punktfunk_core::control::{Hello, Message, frame};
use punktfunk_core::pairing::{Fingerprint, HostPairing, fingerprint_hex, fingerprint_of};
use rustls::pki_types::CertificateDer;
use std::time::Duration;

/// What an unpaired client is told on a host that is not `--open`.
pub const NOT_PAIRED: &str = "not paired: arm a PIN on the host (punktfunk-host pair --native or the web console) and run `punktfunk-probe pair`";

/// How long the client may take for its first message and for each pairing step.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a paired client's `last_seen` is written at most (seconds).
const LAST_SEEN_EVERY_SECS: u64 = 60;

/// What a new client is told when `max_paired_devices` devices are already paired.
fn full_reason(max: usize) -> String {
    format!(
        "host already has {max} paired devices (setting max_paired_devices): remove one in the web console first"
    )
}

/// Runs a paired-store change (an fsync'd file rewrite under the store's lock) on the blocking
/// pool: on an async worker it would stall every other connection that worker serves.
async fn off_async<T: Send + 'static>(
    change: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(change)
        .await
        .map_err(|e| anyhow::anyhow!("paired-store task: {e}"))?
}

/// The outcome of [`authorize_client`].
pub(super) enum Authorized {
    /// A trusted client asked for a session.
    Session(Hello),
    /// The connection was a pairing, and it succeeded; nothing more to serve.
    Paired,
    /// Refuse with this reason (sent to the client as the Goodbye).
    Refused(String),
}

/// The client certificate's fingerprint (the TLS verifier made sure there is one).
pub(super) fn client_fingerprint(conn: &quinn::Connection) -> Option<Fingerprint> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    certs.first().map(|c| fingerprint_of(c.as_ref()))
}

async fn send(tx: &mut quinn::SendStream, message: &Message) -> Result<(), String> {
    tx.write_all(&frame(&message.encode()))
        .await
        .map_err(|e| format!("control stream: {e}"))
}

async fn next(reader: &mut ControlReader, what: &str) -> Result<Message, String> {
    match tokio::time::timeout(STEP_TIMEOUT, reader.next()).await {
        Ok(Ok(Some(m))) => Ok(m),
        Ok(Ok(None)) => Err(format!("client closed the control stream before {what}")),
        Ok(Err(e)) => Err(format!("bad {what}: {e:#}")),
        Err(_) => Err(format!("no {what} within {} s", STEP_TIMEOUT.as_secs())),
    }
}

/// Reads the client's first message and decides: a paired client's `Hello` goes on to a session, a
/// `PairStart` runs the pairing exchange, anything else is refused with the reason. Called right
/// after the control stream is accepted.
pub(super) async fn authorize_client(
    conn: &quinn::Connection,
    tx: &mut quinn::SendStream,
    reader: &mut ControlReader,
    host: &HostContext,
) -> Authorized {
    let remote = conn.remote_address();
    let Some(client) = client_fingerprint(conn) else {
        return Authorized::Refused("no client certificate: update the client".into());
    };
    let id = fingerprint_hex(&client);
    let first = match next(reader, "Hello").await {
        Ok(m) => m,
        Err(reason) => return Authorized::Refused(reason),
    };
    match first {
        Message::Hello(hello) => {
            if let Some(device) = host.paired.get(&id) {
                let now = now_unix();
                // Once a minute is news enough; every connection would mean an fsync'd rewrite of
                // paired.json each time a paired client (re)connects.
                let stale = device
                    .last_seen_unix
                    .is_none_or(|seen| now.saturating_sub(seen) >= LAST_SEEN_EVERY_SECS);
                if stale {
                    let (store, key) = (host.paired.clone(), id.clone());
                    if let Err(e) = off_async(move || store.touch(&key, now)).await {
                        tracing::warn!(client = %id, "could not record last seen: {e:#}");
                    }
                }
                return Authorized::Session(hello);
            }
            let settings = host.settings.get();
            if !settings.open {
                tracing::info!(%remote, client = %id, name = %hello.client_name, "refusing an unpaired client");
                return Authorized::Refused(NOT_PAIRED.into());
            }
            let device = PairedDevice {
                id: id.clone(),
                name: hello.client_name.clone(),
                protocol: "punktfunk1".into(),
                paired_at_unix: now_unix(),
                last_seen_unix: Some(now_unix()),
            };
            let (store, max) = (host.paired.clone(), settings.max_paired_devices);
            match off_async(move || store.add_within(device, max)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%remote, client = %id, name = %hello.client_name, max,
                        "open host: refusing a new client, the paired-device list is full");
                    return Authorized::Refused(full_reason(max));
                }
                Err(e) => {
                    tracing::error!(client = %id, "could not remember the client: {e:#}");
                    return Authorized::Refused("host could not store the new client".into());
                }
            }
            tracing::warn!(%remote, client = %id, name = %hello.client_name,
                "open host: trusting a new client on first use and remembering it as paired");
            host.events.publish(HostEvent::DevicePaired {
                id,
                name: hello.client_name.clone(),
                protocol: "punktfunk1".into(),
            });
            Authorized::Session(hello)
        }
        Message::PairStart { client_name, spake } => {
            match pair(conn, tx, reader, host, client, &client_name, &spake).await {
                Ok(()) => Authorized::Paired,
                Err(reason) => {
                    tracing::warn!(%remote, client = %id, name = %client_name, %reason, "pairing failed");
                    Authorized::Refused(reason)
                }
            }
        }
        other => Authorized::Refused(format!("expected Hello or PairStart, got {other:?}")),
    }
}

/// The host's side of the exchange. The client is stored (atomically, durably) before the host
/// proves itself, so a client that saw `PairDone` is paired even if the host dies right after.
async fn pair(
    conn: &quinn::Connection,
    tx: &mut quinn::SendStream,
    reader: &mut ControlReader,
    host: &HostContext,
    client: Fingerprint,
    client_name: &str,
    spake_a: &[u8],
) -> Result<(), String> {
    let pin = host
        .native_pairing
        .attempt()
        .map_err(|e| format!("pairing refused: {e}"))?;
    let host_fp = fingerprint_of(host.identity.cert.as_ref());
    let failed = |reason: String| {
        host.native_pairing.record_failure();
        reason
    };
    let (state, spake_b) = HostPairing::respond(&pin, &client, &host_fp, spake_a)
        .map_err(|e| failed(format!("pairing failed: {e}")))?;
    send(tx, &Message::PairChallenge { spake: spake_b }).await?;
    let mac = match next(reader, "PairConfirm").await.map_err(failed)? {
        Message::PairConfirm { mac } => mac,
        other => return Err(failed(format!("expected PairConfirm, got {other:?}"))),
    };
    let done = state.on_confirm(&mac).map_err(|_| {
        failed(
            "pairing failed: wrong PIN (or a different certificate in between); the PIN is used up, arm a new one"
                .into(),
        )
    })?;
    let id = fingerprint_hex(&client);
    let name = if client_name.trim().is_empty() {
        "unnamed client".to_string()
    } else {
        client_name.to_string()
    };
    let device = PairedDevice {
        id: id.clone(),
        name: name.clone(),
        protocol: "punktfunk1".into(),
        paired_at_unix: now_unix(),
        last_seen_unix: None,
    };
    let (store, max) = (host.paired.clone(), host.settings.get().max_paired_devices);
    let added = off_async(move || store.add_within(device, max))
        .await
        .map_err(|e| {
            tracing::error!("storing the paired client: {e:#}");
            "pairing failed: the host could not store the pairing".to_string()
        })?;
    if !added {
        return Err(format!("pairing failed: {}", full_reason(max)));
    }
    tracing::info!(remote = %conn.remote_address(), client = %id, %name, "client paired");
    host.events.publish(HostEvent::DevicePaired {
        id,
        name,
        protocol: "punktfunk1".into(),
    });
    send(tx, &Message::PairDone { mac: done }).await?;
    let _ = tx.finish();
    // The client closes once it checked our proof; closing first could cut PairDone off.
    let _ = tokio::time::timeout(STEP_TIMEOUT, conn.closed()).await;
    Ok(())
}
