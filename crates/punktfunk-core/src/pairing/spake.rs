//! The SPAKE2 pairing exchange as two sans-IO state machines.
//!
//! Both sides know the PIN and each other's certificate fingerprint as seen in the TLS handshake of
//! the connection the exchange runs on. The fingerprints are the SPAKE2 identities, so a machine in
//! the middle — which necessarily shows each side a different certificate — ends up with keys that
//! do not match either side's. Key confirmation makes that visible before anything is stored:
//!
//! ```text
//! client                                  host
//! PairStart{name, spake_a}        ──▶     (takes the armed PIN: one attempt)
//!                                 ◀──     PairChallenge{spake_b}
//! PairConfirm{mac_c}              ──▶     checks mac_c, stores the client
//!                                 ◀──     PairDone{mac_h}
//! checks mac_h, pins the host
//! ```
//!
//! The client proves first, so a host that has not verified the client reveals nothing that helps
//! an offline PIN search; the host only proves itself after it accepted the client.

use aws_lc_rs::{digest, hmac};
use spake2::{Ed25519Group, Identity, Password, Spake2};

/// SHA-256 of a certificate: how both sides name it.
pub type Fingerprint = [u8; 32];

/// Bytes of a SPAKE2 message (Ed25519 group: a side byte and a point).
pub const SPAKE_MESSAGE_LEN: usize = 33;
/// Bytes of a key-confirmation MAC (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

const TRANSCRIPT_LABEL: &[u8] = b"punktfunk/1 pairing v1";
const CLIENT_CONFIRM: &[u8] = b"punktfunk/1 pairing client confirm";
const HOST_CONFIRM: &[u8] = b"punktfunk/1 pairing host confirm";

/// Why a punktfunk/1 pairing exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The peer's SPAKE2 message could not be parsed.
    #[error("malformed SPAKE2 message from the peer")]
    BadSpakeMessage,
    /// The peer's key confirmation did not verify: wrong PIN, or a different peer in between.
    #[error(
        "key confirmation failed: wrong PIN, or the peer is not the certificate it showed (someone in between)"
    )]
    ConfirmationFailed,
}

fn identity(role: &[u8], fingerprint: &Fingerprint) -> Identity {
    let mut id = Vec::with_capacity(role.len() + fingerprint.len());
    id.extend_from_slice(role);
    id.extend_from_slice(fingerprint);
    Identity::new(&id)
}

fn identities(client: &Fingerprint, host: &Fingerprint) -> (Identity, Identity) {
    (
        identity(b"punktfunk/1 client ", client),
        identity(b"punktfunk/1 host ", host),
    )
}

/// The two confirmation keys, derived from the SPAKE2 key and bound to everything both sides saw.
struct Confirmation {
    client: hmac::Key,
    host: hmac::Key,
    transcript: digest::Digest,
}

impl Confirmation {
    fn new(
        shared: &[u8],
        client: &Fingerprint,
        host: &Fingerprint,
        spake_a: &[u8],
        spake_b: &[u8],
    ) -> Confirmation {
        let mut t = digest::Context::new(&digest::SHA256);
        t.update(TRANSCRIPT_LABEL);
        t.update(client);
        t.update(host);
        // Both messages have a fixed length once accepted; prefix anyway so the encoding is
        // unambiguous by construction.
        for m in [spake_a, spake_b] {
            t.update(&(m.len() as u32).to_le_bytes());
            t.update(m);
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, shared);
        let derive =
            |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&root, label).as_ref());
        Confirmation {
            client: derive(CLIENT_CONFIRM),
            host: derive(HOST_CONFIRM),
            transcript: t.finish(),
        }
    }

    fn client_mac(&self) -> Vec<u8> {
        hmac::sign(&self.client, self.transcript.as_ref())
            .as_ref()
            .to_vec()
    }

    fn host_mac(&self) -> Vec<u8> {
        hmac::sign(&self.host, self.transcript.as_ref())
            .as_ref()
            .to_vec()
    }

    fn check(key: &hmac::Key, transcript: &digest::Digest, mac: &[u8]) -> Result<(), PairingError> {
        // Constant-time comparison inside `verify`; a wrong length simply fails it.
        hmac::verify(key, transcript.as_ref(), mac).map_err(|_| PairingError::ConfirmationFailed)
    }
}

/// Client, after sending `PairStart`: waiting for the host's SPAKE2 message.
pub struct ClientPairing {
    spake: Spake2<Ed25519Group>,
    spake_a: Vec<u8>,
    client: Fingerprint,
    host: Fingerprint,
}

/// Client, after sending `PairConfirm`: waiting for the host's proof.
pub struct ClientAwaitingDone {
    confirmation: Confirmation,
}

impl ClientPairing {
    /// Starts pairing with `pin`; `client` is our own certificate's fingerprint, `host` the one the
    /// host presented on this connection. Returns the SPAKE2 message for `PairStart`.
    pub fn start(pin: &str, client: &Fingerprint, host: &Fingerprint) -> (ClientPairing, Vec<u8>) {
        let (id_a, id_b) = identities(client, host);
        let (spake, spake_a) =
            Spake2::<Ed25519Group>::start_a(&Password::new(pin.as_bytes()), &id_a, &id_b);
        let state = ClientPairing {
            spake,
            spake_a: spake_a.clone(),
            client: *client,
            host: *host,
        };
        (state, spake_a)
    }

    /// Takes the host's `PairChallenge` and returns the client's MAC for `PairConfirm`.
    pub fn on_challenge(
        self,
        spake_b: &[u8],
    ) -> Result<(ClientAwaitingDone, Vec<u8>), PairingError> {
        if spake_b.len() != SPAKE_MESSAGE_LEN {
            return Err(PairingError::BadSpakeMessage);
        }
        let shared = self
            .spake
            .finish(spake_b)
            .map_err(|_| PairingError::BadSpakeMessage)?;
        let confirmation =
            Confirmation::new(&shared, &self.client, &self.host, &self.spake_a, spake_b);
        let mac = confirmation.client_mac();
        Ok((ClientAwaitingDone { confirmation }, mac))
    }
}

impl ClientAwaitingDone {
    /// Checks the host's `PairDone`: only after this may the client pin the host.
    pub fn on_done(self, mac: &[u8]) -> Result<(), PairingError> {
        Confirmation::check(&self.confirmation.host, &self.confirmation.transcript, mac)
    }
}

/// Host, after sending `PairChallenge`: waiting for the client's proof.
pub struct HostPairing {
    confirmation: Confirmation,
}

impl HostPairing {
    /// Answers a client's `PairStart`: `client` is the fingerprint of the certificate the client
    /// presented on this connection, `host` our own. Returns the SPAKE2 message for `PairChallenge`.
    pub fn respond(
        pin: &str,
        client: &Fingerprint,
        host: &Fingerprint,
        spake_a: &[u8],
    ) -> Result<(HostPairing, Vec<u8>), PairingError> {
        if spake_a.len() != SPAKE_MESSAGE_LEN {
            return Err(PairingError::BadSpakeMessage);
        }
        let (id_a, id_b) = identities(client, host);
        let (spake, spake_b) =
            Spake2::<Ed25519Group>::start_b(&Password::new(pin.as_bytes()), &id_a, &id_b);
        let shared = spake
            .finish(spake_a)
            .map_err(|_| PairingError::BadSpakeMessage)?;
        let confirmation = Confirmation::new(&shared, client, host, spake_a, &spake_b);
        Ok((HostPairing { confirmation }, spake_b))
    }

    /// Checks the client's `PairConfirm`. On success the client knew the PIN and is the certificate
    /// it presented: store it, then send the returned MAC as `PairDone`.
    pub fn on_confirm(self, mac: &[u8]) -> Result<Vec<u8>, PairingError> {
        Confirmation::check(
            &self.confirmation.client,
            &self.confirmation.transcript,
            mac,
        )?;
        Ok(self.confirmation.host_mac())
    }
}

/// Parses a lowercase or uppercase hex SHA-256 fingerprint.
pub fn parse_fingerprint(hex: &str) -> Option<Fingerprint> {
    let hex = hex.trim();
    // `from_str_radix` alone would accept a leading '+'.
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a DER certificate.
pub fn fingerprint_of(cert_der: &[u8]) -> Fingerprint {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, cert_der).as_ref());
    out
}

/// Lowercase hex of a fingerprint, as shown to users and stored.
pub fn fingerprint_hex(fp: &Fingerprint) -> String {
    crate::hex::encode(fp)
}
