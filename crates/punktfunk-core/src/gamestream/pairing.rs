//! GameStream PIN pairing, host side, as a state machine.
//!
//! The client proves it knows the PIN the user typed on the host by deriving the same AES key
//! `K = SHA-256(salt ‖ PIN)[..16]`; each side proves it owns its certificate by signing a fresh secret
//! with its RSA key. The five phases (see `docs/gamestream.md`, "Pairing"):
//!
//! 1. `getservercert`: salt + client certificate. The host waits for the PIN ([`PairingSession::new`],
//!    then [`PairingSession::enter_pin`]) and answers with its own certificate.
//! 2. `clientchallenge`: `ECB_K(C)`. The host answers `ECB_K(SHA-256(C ‖ certSig(host) ‖ S) ‖ SC)`.
//! 3. `serverchallengeresp`: `ECB_K(SHA-256(SC ‖ certSig(client) ‖ CS))`, kept as the client hash. The
//!    host answers `S ‖ Sign_host(S)`.
//! 4. `clientpairingsecret`: `CS ‖ Sign_client(CS)`. The host recomputes the client hash and checks
//!    the signature; only if both hold is the client certificate handed out for storage.
//! 5. `pairchallenge` over HTTPS: stateless (TLS already proved the stored certificate).
//!
//! All primitives come from aws-lc-rs (already the crate's AEAD and rustls' provider): one audited,
//! constant-time implementation instead of a second RSA stack. Randomness is passed in
//! ([`ServerRandom`]); RSA PKCS#1 v1.5 signing is deterministic, so nothing here draws from the OS.

use aws_lc_rs::cipher::{
    AES_128, DecryptingKey, DecryptionContext, EncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use std::fmt;
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Bytes of the salt the client sends in phase 1.
pub const SALT_LEN: usize = 16;
/// Bytes of every challenge and secret (client challenge, server challenge, both secrets).
pub const NONCE_LEN: usize = 16;
/// SHA-256 output; the length of both hashes in the exchange.
pub const HASH_LEN: usize = 32;
/// Largest certificate PEM accepted; real GameStream certificates are about 1.1 KB.
pub const MAX_CERT_PEM: usize = 16 * 1024;

/// Why a pairing step failed. Every failure ends the attempt: the client has to start over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The certificate is not PEM/DER X.509 with an RSA key; names the problem.
    #[error("certificate rejected: {0}")]
    BadCertificate(&'static str),
    /// The host's private key is not a usable RSA key; names the problem.
    #[error("private key rejected: {0}")]
    BadPrivateKey(&'static str),
    /// The host's private key does not match its certificate.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// The PIN is not exactly 4 ASCII digits.
    #[error("the PIN must be exactly 4 ASCII digits")]
    BadPin,
    /// A request for another phase than the one the session is waiting for.
    #[error("pairing phase out of order: expected {expected}, got {got}")]
    OutOfOrder {
        /// The phase the session is waiting for.
        expected: Phase,
        /// The phase the client sent.
        got: Phase,
    },
    /// The session already paired a client or failed; start a new one.
    #[error("this pairing attempt is over; start a new one")]
    Finished,
    /// A field has the wrong length.
    #[error("{field} is {got} bytes long, expected {expected}")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// The client's hash does not match: wrong PIN or a tampered exchange.
    #[error("the client's hash does not match: wrong PIN or a tampered exchange")]
    HashMismatch,
    /// The client's signature over its secret does not verify against its certificate.
    #[error("the client's signature over its secret does not verify")]
    BadClientSignature,
    /// An AES, SHA-256 or RSA operation failed.
    #[error("cryptographic operation failed")]
    Crypto,
}

/// The pairing phases, named after the query parameter that carries each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Phase 1 is waiting for the user to type the PIN on the host.
    GetServerCert,
    /// Phase 2 is waiting for the client's encrypted challenge.
    ClientChallenge,
    /// Phase 3 is waiting for the client's hash of the server challenge.
    ServerChallengeResp,
    /// Phase 4 is waiting for the client's secret and its signature.
    ClientPairingSecret,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::GetServerCert => "getservercert",
            Phase::ClientChallenge => "clientchallenge",
            Phase::ServerChallengeResp => "serverchallengeresp",
            Phase::ClientPairingSecret => "clientpairingsecret",
        })
    }
}

/// An X.509 certificate as GameStream uses it: the PEM text (what is exchanged and pinned), its DER,
/// the raw signature value (`certSig` in the hashes) and the subject public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    pem: Vec<u8>,
    der: Vec<u8>,
    signature: Vec<u8>,
    spki_der: Vec<u8>,
    rsa_public_key: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("der_len", &self.der.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

impl Certificate {
    /// Parses the first `CERTIFICATE` block of `pem`; the key must be RSA (all GameStream peers use
    /// RSA-2048). Validity dates are deliberately not looked at: embedded clients have bad clocks.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PairingError> {
        if pem.len() > MAX_CERT_PEM {
            return Err(PairingError::BadCertificate("PEM too large"));
        }
        let (_, block) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|_| PairingError::BadCertificate("not PEM"))?;
        if block.label != "CERTIFICATE" {
            return Err(PairingError::BadCertificate(
                "PEM block is not a CERTIFICATE",
            ));
        }
        let mut cert = Self::from_der(&block.contents)?;
        cert.pem = pem.to_vec();
        Ok(cert)
    }

    /// Parses a DER certificate (as TLS presents it). [`Certificate::pem`] is then empty.
    pub fn from_der(der: &[u8]) -> Result<Self, PairingError> {
        let (rest, x509) = X509Certificate::from_der(der)
            .map_err(|_| PairingError::BadCertificate("not DER X.509"))?;
        if !rest.is_empty() {
            return Err(PairingError::BadCertificate(
                "trailing bytes after the certificate",
            ));
        }
        let spki = &x509.tbs_certificate.subject_pki;
        if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
            return Err(PairingError::BadCertificate("public key is not RSA"));
        }
        if x509.signature_value.unused_bits != 0 || x509.signature_value.data.is_empty() {
            return Err(PairingError::BadCertificate("malformed signature value"));
        }
        Ok(Certificate {
            pem: Vec::new(),
            der: der.to_vec(),
            signature: x509.signature_value.data.to_vec(),
            spki_der: spki.raw.to_vec(),
            rsa_public_key: spki.subject_public_key.data.to_vec(),
        })
    }

    /// The PEM text exactly as received (what `plaincert` carries and clients pin).
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The DER encoding (what a TLS handshake presents; compare paired clients by this).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The raw `signatureValue` bits: `certSig` in the pairing hashes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.spki_der)
            .verify(message, signature)
            .is_ok()
    }
}

/// The host's GameStream identity: its RSA-2048 key and self-signed certificate.
pub struct HostIdentity {
    cert: Certificate,
    key: RsaKeyPair,
}

impl fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostIdentity")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl HostIdentity {
    /// `key_pem` is a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block that must belong to
    /// the certificate in `cert_pem`.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, PairingError> {
        let cert = Certificate::from_pem(cert_pem)?;
        let (_, block) = x509_parser::pem::parse_x509_pem(key_pem)
            .map_err(|_| PairingError::BadPrivateKey("not PEM"))?;
        let key = match block.label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&block.contents),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&block.contents),
            _ => {
                return Err(PairingError::BadPrivateKey(
                    "PEM block is not a private key",
                ));
            }
        }
        .map_err(|_| PairingError::BadPrivateKey("not an RSA private key"))?;
        if aws_lc_rs::signature::KeyPair::public_key(&key).as_ref() != cert.rsa_public_key {
            return Err(PairingError::KeyMismatch);
        }
        Ok(HostIdentity { cert, key })
    }

    /// The host's certificate, as sent in phase 1.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PairingError> {
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        // PKCS#1 v1.5 is deterministic; aws-lc-rs takes an RNG for API symmetry and does not use it.
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| PairingError::Crypto)?;
        Ok(signature)
    }
}

/// The 4-digit PIN the user reads off the client and types on the host.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pin([u8; 4]);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl Pin {
    /// A PIN from its text, exactly four ASCII digits.
    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let digits: [u8; 4] = text
            .as_bytes()
            .try_into()
            .map_err(|_| PairingError::BadPin)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(PairingError::BadPin);
        }
        Ok(Pin(digits))
    }
}

/// `K = SHA-256(salt ‖ PIN)[..16]`, the AES-128 key of every symmetric step.
pub fn derive_key(salt: &[u8; SALT_LEN], pin: &Pin) -> [u8; 16] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(salt);
    ctx.update(&pin.0);
    let digest = ctx.finish();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.as_ref()[..16]);
    key
}

/// AES-128-ECB without padding, in place; `data` must be whole blocks.
pub fn ecb_encrypt(key: &[u8; 16], data: &mut [u8]) -> Result<(), PairingError> {
    let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| PairingError::Crypto)?;
    let key = EncryptingKey::ecb(key).map_err(|_| PairingError::Crypto)?;
    key.encrypt(data)
        .map(|_| ())
        .map_err(|_| PairingError::Crypto)
}

/// Inverse of [`ecb_encrypt`].
pub fn ecb_decrypt(key: &[u8; 16], data: &mut [u8]) -> Result<(), PairingError> {
    let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| PairingError::Crypto)?;
    let key = DecryptingKey::ecb(key).map_err(|_| PairingError::Crypto)?;
    key.decrypt(data, DecryptionContext::None)
        .map(|_| ())
        .map_err(|_| PairingError::Crypto)
}

fn sha256(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut ctx = Context::new(&SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Fresh random bytes the host contributes in phase 2 (from the caller's CSPRNG).
#[derive(Clone, Copy)]
pub struct ServerRandom {
    /// `S`: revealed and signed in phase 3.
    pub server_secret: [u8; NONCE_LEN],
    /// `SC`: the challenge the client must fold into its hash.
    pub server_challenge: [u8; NONCE_LEN],
}

/// What the host answers to a successful step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairReply {
    /// Phase 1: `<paired>1</paired><plaincert>hex(host PEM)</plaincert>`.
    ServerCert {
        /// The host's certificate PEM, sent hex-encoded.
        plaincert: Vec<u8>,
    },
    /// Phase 2: `<challengeresponse>` = `ECB_K(H ‖ SC)`, 48 bytes.
    ChallengeResponse(Vec<u8>),
    /// Phase 3: `<pairingsecret>` = `S ‖ Sign_host(S)`.
    PairingSecret(Vec<u8>),
    /// Phase 4 succeeded: store this certificate as paired, answer `<paired>1</paired>`.
    Paired {
        /// The client's certificate, to be stored as paired.
        client_cert: Certificate,
    },
}

enum State {
    AwaitingPin,
    AwaitingClientChallenge {
        key: [u8; 16],
    },
    AwaitingServerChallengeResp {
        key: [u8; 16],
        random: ServerRandom,
    },
    AwaitingClientPairingSecret {
        server_challenge: [u8; NONCE_LEN],
        client_hash: [u8; HASH_LEN],
    },
    Over,
}

/// One pairing attempt of one client, from phase 1 to phase 4.
pub struct PairingSession {
    client_cert: Certificate,
    salt: [u8; SALT_LEN],
    state: State,
}

impl fmt::Debug for PairingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingSession")
            .field("expected", &self.expected_phase())
            .finish_non_exhaustive()
    }
}

impl PairingSession {
    /// Phase 1 arrived: remember the client's certificate and salt and wait for the PIN.
    pub fn new(client_cert_pem: &[u8], salt: [u8; SALT_LEN]) -> Result<Self, PairingError> {
        Ok(PairingSession {
            client_cert: Certificate::from_pem(client_cert_pem)?,
            salt,
            state: State::AwaitingPin,
        })
    }

    /// The step this attempt waits for, or `None` once it is over (paired or failed).
    pub fn expected_phase(&self) -> Option<Phase> {
        match self.state {
            State::AwaitingPin => Some(Phase::GetServerCert),
            State::AwaitingClientChallenge { .. } => Some(Phase::ClientChallenge),
            State::AwaitingServerChallengeResp { .. } => Some(Phase::ServerChallengeResp),
            State::AwaitingClientPairingSecret { .. } => Some(Phase::ClientPairingSecret),
            State::Over => None,
        }
    }

    /// The certificate the client sent in phase 1.
    pub fn client_certificate(&self) -> &Certificate {
        &self.client_cert
    }

    /// Phase 1 completes: the user typed `pin` on the host.
    pub fn enter_pin(&mut self, host: &HostIdentity, pin: &Pin) -> Result<PairReply, PairingError> {
        self.step(|session| match session.state {
            State::AwaitingPin => {
                let key = derive_key(&session.salt, pin);
                session.state = State::AwaitingClientChallenge { key };
                Ok(PairReply::ServerCert {
                    plaincert: host.cert.pem.clone(),
                })
            }
            _ => Err(session.out_of_order(Phase::GetServerCert)),
        })
    }

    /// Phase 2: `encrypted_challenge` is the decoded `clientchallenge` parameter.
    pub fn client_challenge(
        &mut self,
        host: &HostIdentity,
        encrypted_challenge: &[u8],
        random: &ServerRandom,
    ) -> Result<PairReply, PairingError> {
        self.step(|session| {
            let State::AwaitingClientChallenge { key } = session.state else {
                return Err(session.out_of_order(Phase::ClientChallenge));
            };
            let mut challenge: [u8; NONCE_LEN] = exact("clientchallenge", encrypted_challenge)?;
            ecb_decrypt(&key, &mut challenge)?;
            let hash = sha256(&[&challenge, host.cert.signature(), &random.server_secret]);
            let mut reply = Vec::with_capacity(HASH_LEN + NONCE_LEN);
            reply.extend_from_slice(&hash);
            reply.extend_from_slice(&random.server_challenge);
            ecb_encrypt(&key, &mut reply)?;
            session.state = State::AwaitingServerChallengeResp {
                key,
                random: *random,
            };
            Ok(PairReply::ChallengeResponse(reply))
        })
    }

    /// Phase 3: `encrypted_hash` is the decoded `serverchallengeresp` parameter.
    pub fn server_challenge_response(
        &mut self,
        host: &HostIdentity,
        encrypted_hash: &[u8],
    ) -> Result<PairReply, PairingError> {
        self.step(|session| {
            let State::AwaitingServerChallengeResp { key, random } = session.state else {
                return Err(session.out_of_order(Phase::ServerChallengeResp));
            };
            let mut client_hash: [u8; HASH_LEN] = exact("serverchallengeresp", encrypted_hash)?;
            ecb_decrypt(&key, &mut client_hash)?;
            let mut reply = random.server_secret.to_vec();
            reply.extend_from_slice(&host.sign(&random.server_secret)?);
            session.state = State::AwaitingClientPairingSecret {
                server_challenge: random.server_challenge,
                client_hash,
            };
            Ok(PairReply::PairingSecret(reply))
        })
    }

    /// Phase 4: `pairing_secret` is the decoded `clientpairingsecret` parameter (`CS ‖ signature`).
    /// [`PairingError::HashMismatch`] is what a wrong PIN looks like from the host's side.
    pub fn client_pairing_secret(
        &mut self,
        pairing_secret: &[u8],
    ) -> Result<PairReply, PairingError> {
        self.step(|session| {
            let State::AwaitingClientPairingSecret {
                server_challenge,
                client_hash,
            } = session.state
            else {
                return Err(session.out_of_order(Phase::ClientPairingSecret));
            };
            if pairing_secret.len() <= NONCE_LEN {
                return Err(PairingError::BadLength {
                    field: "clientpairingsecret",
                    got: pairing_secret.len(),
                    expected: NONCE_LEN + 256,
                });
            }
            let (client_secret, signature) = pairing_secret.split_at(NONCE_LEN);
            let expected = sha256(&[
                &server_challenge,
                session.client_cert.signature(),
                client_secret,
            ]);
            // Constant-time: the comparison must not reveal how much of a guessed hash was right.
            let hash_ok =
                aws_lc_rs::constant_time::verify_slices_are_equal(&expected, &client_hash).is_ok();
            let signature_ok = session.client_cert.verify(client_secret, signature);
            if !hash_ok {
                return Err(PairingError::HashMismatch);
            }
            if !signature_ok {
                return Err(PairingError::BadClientSignature);
            }
            session.state = State::Over;
            Ok(PairReply::Paired {
                client_cert: session.client_cert.clone(),
            })
        })
    }

    /// Runs one step; any error ends the attempt so that nothing can be retried against it.
    fn step(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<PairReply, PairingError>,
    ) -> Result<PairReply, PairingError> {
        let result = body(self);
        if result.is_err() {
            self.state = State::Over;
        }
        result
    }

    fn out_of_order(&self, got: Phase) -> PairingError {
        match self.expected_phase() {
            Some(expected) => PairingError::OutOfOrder { expected, got },
            None => PairingError::Finished,
        }
    }
}

fn exact<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], PairingError> {
    bytes.try_into().map_err(|_| PairingError::BadLength {
        field,
        got: bytes.len(),
        expected: N,
    })
}

#[cfg(test)]
mod tests;
