//! The host state machine against a client written separately from the client's point of view (as
//! moonlight-qt's pairing manager does it), on different primitives: RustCrypto RSA, SHA-256 and AES
//! instead of aws-lc-rs, and a small DER walker instead of x509-parser for the certificate fields.

use super::*;
use aes::Aes128;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use proptest::prelude::*;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use std::sync::OnceLock;

struct Identity {
    cert_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
}

fn make_identity(common_name: &str) -> Identity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key generation");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).expect("self-signed certificate");
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

// RSA key generation costs tens of milliseconds; every test shares the same three identities.
fn host_identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("punktfunk GameStream host"))
}

fn client_identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("NVIDIA GameStream Client"))
}

fn other_client_identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| make_identity("NVIDIA GameStream Client"))
}

fn host() -> HostIdentity {
    let id = host_identity();
    HostIdentity::from_pem(id.cert_pem.as_bytes(), id.key_pem.as_bytes()).expect("host identity")
}

// ---- a minimal DER reader, enough to find a certificate's signature and public key ----

/// Splits one TLV off `input`: (tag, whole TLV, contents, rest).
fn tlv(input: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (input[2] as usize, 3),
        0x82 => ((input[2] as usize) << 8 | input[3] as usize, 4),
        other => panic!("length form {other:#x} not expected in a test certificate"),
    };
    (
        tag,
        &input[..header + len],
        &input[header..header + len],
        &input[header + len..],
    )
}

struct CertFields {
    signature: Vec<u8>,
    spki_der: Vec<u8>,
}

fn cert_fields_from_pem(pem: &[u8]) -> CertFields {
    let der = pem_to_der(pem);
    let (_, _, cert, _) = tlv(&der);
    let (_, _, tbs, rest) = tlv(cert);
    let (_, _, _sig_alg, rest) = tlv(rest);
    let (tag, _, bits, _) = tlv(rest);
    assert_eq!(tag, 0x03, "signatureValue is a BIT STRING");
    assert_eq!(bits[0], 0, "no unused bits");
    // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    let mut fields = tbs;
    let (tag, _, _, rest) = tlv(fields);
    fields = if tag == 0xa0 { rest } else { fields };
    for _ in 0..5 {
        fields = tlv(fields).3;
    }
    let (_, spki, _, _) = tlv(fields);
    CertFields {
        signature: bits[1..].to_vec(),
        spki_der: spki.to_vec(),
    }
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is ASCII");
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64_decode(&body)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

// ---- the client side of the exchange ----

fn aes_ecb(key: &[u8; 16], data: &mut [u8], encrypt: bool) {
    let cipher = Aes128::new(&Array::from(*key));
    for chunk in data.chunks_exact_mut(16) {
        let mut block = Array::from(<[u8; 16]>::try_from(&*chunk).expect("16-byte block"));
        if encrypt {
            cipher.encrypt_block(&mut block);
        } else {
            cipher.decrypt_block(&mut block);
        }
        chunk.copy_from_slice(&block);
    }
}

fn sha256_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

struct Client {
    identity: &'static Identity,
    pin: &'static str,
    salt: [u8; 16],
    key: [u8; 16],
    challenge: [u8; 16],
    client_secret: [u8; 16],
    server_cert_pem: Vec<u8>,
    server_response: Vec<u8>,
    server_challenge: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum ClientVerdict {
    Ok,
    WrongPin,
    Mitm,
}

impl Client {
    fn new(identity: &'static Identity, pin: &'static str, seed: u8) -> Self {
        let salt = [seed; 16];
        let digest = sha256_of(&[&salt, pin.as_bytes()]);
        Client {
            identity,
            pin,
            salt,
            key: digest[..16].try_into().expect("16 bytes"),
            challenge: [seed.wrapping_add(1); 16],
            client_secret: [seed.wrapping_add(2); 16],
            server_cert_pem: Vec::new(),
            server_response: Vec::new(),
            server_challenge: Vec::new(),
        }
    }

    /// Phase 1 request: salt and the client's PEM.
    fn getservercert(&self) -> ([u8; 16], &'static [u8]) {
        let _ = self.pin;
        (self.salt, self.identity.cert_pem.as_bytes())
    }

    /// Reads phase 1's `plaincert`, sends phase 2's `clientchallenge`.
    fn clientchallenge(&mut self, plaincert: &[u8]) -> Vec<u8> {
        self.server_cert_pem = plaincert.to_vec();
        let mut c = self.challenge.to_vec();
        aes_ecb(&self.key, &mut c, true);
        c
    }

    /// Reads `challengeresponse`, sends `serverchallengeresp`.
    fn serverchallengeresp(&mut self, challenge_response: &[u8]) -> Vec<u8> {
        let mut plain = challenge_response.to_vec();
        aes_ecb(&self.key, &mut plain, false);
        self.server_response = plain[..32].to_vec();
        self.server_challenge = plain[32..48].to_vec();
        let own = cert_fields_from_pem(self.identity.cert_pem.as_bytes());
        let mut hash = sha256_of(&[&self.server_challenge, &own.signature, &self.client_secret]);
        aes_ecb(&self.key, &mut hash, true);
        hash
    }

    /// Checks `pairingsecret` the way moonlight-qt does (MITM check, then PIN check).
    fn check_pairing_secret(&self, pairing_secret: &[u8]) -> ClientVerdict {
        let (secret, signature) = pairing_secret.split_at(16);
        let server = cert_fields_from_pem(&self.server_cert_pem);
        let public = rsa::PublicKey::from_public_key_der(&server.spki_der).expect("host RSA key");
        let verifier = VerifyingKey::<Sha256>::new(public);
        let ok = Signature::try_from(signature)
            .map(|sig| verifier.verify(secret, &sig).is_ok())
            .unwrap_or(false);
        if !ok {
            return ClientVerdict::Mitm;
        }
        let expected = sha256_of(&[&self.challenge, &server.signature, secret]);
        if expected != self.server_response {
            return ClientVerdict::WrongPin;
        }
        ClientVerdict::Ok
    }

    /// Phase 4's `clientpairingsecret`: `CS ‖ Sign_client(CS)`.
    fn clientpairingsecret(&self) -> Vec<u8> {
        let key = rsa::PrivateKey::from_pkcs8_der(&self.identity.key_der).expect("client key");
        let signer = SigningKey::<Sha256>::new(key);
        let mut out = self.client_secret.to_vec();
        out.extend_from_slice(&signer.sign(&self.client_secret).to_vec());
        out
    }
}

fn random(seed: u8) -> ServerRandom {
    ServerRandom {
        server_secret: [seed ^ 0x5a; 16],
        server_challenge: [seed ^ 0xa5; 16],
    }
}

/// Runs phases 1–3 with the host PIN `host_pin`; returns the session, client, and `pairingsecret`.
fn run_to_phase_three(
    host_pin: &str,
    client_pin: &'static str,
) -> (PairingSession, Client, Vec<u8>) {
    let host = host();
    let mut client = Client::new(client_identity(), client_pin, 7);
    let (salt, cert) = client.getservercert();
    let mut session = PairingSession::new(cert, salt).expect("phase 1 request");
    assert_eq!(session.expected_phase(), Some(Phase::GetServerCert));

    let PairReply::ServerCert { plaincert } = session
        .enter_pin(&host, &Pin::parse(host_pin).expect("pin"))
        .expect("phase 1")
    else {
        panic!("phase 1 answers with the server certificate");
    };
    assert_eq!(plaincert, host_identity().cert_pem.as_bytes());

    let challenge = client.clientchallenge(&plaincert);
    let PairReply::ChallengeResponse(response) = session
        .client_challenge(&host, &challenge, &random(7))
        .expect("phase 2")
    else {
        panic!("phase 2 answers with a challenge response");
    };
    assert_eq!(response.len(), 48);

    let hash = client.serverchallengeresp(&response);
    let PairReply::PairingSecret(secret) = session
        .server_challenge_response(&host, &hash)
        .expect("phase 3")
    else {
        panic!("phase 3 answers with the pairing secret");
    };
    assert_eq!(secret.len(), 16 + 256);
    (session, client, secret)
}

#[test]
fn independent_client_pairs() {
    let (mut session, client, secret) = run_to_phase_three("4711", "4711");
    assert_eq!(client.check_pairing_secret(&secret), ClientVerdict::Ok);
    let reply = session
        .client_pairing_secret(&client.clientpairingsecret())
        .expect("phase 4");
    let PairReply::Paired { client_cert } = reply else {
        panic!("phase 4 hands out the certificate");
    };
    assert_eq!(client_cert.pem(), client_identity().cert_pem.as_bytes());
    assert_eq!(
        client_cert.der(),
        pem_to_der(client_identity().cert_pem.as_bytes())
    );
    assert_eq!(session.expected_phase(), None);
}

#[test]
fn wrong_pin_is_seen_by_the_client_in_phase_three_and_by_the_host_in_phase_four() {
    let (mut session, client, secret) = run_to_phase_three("1234", "4321");
    // The host's signature is still genuine; only the PIN-derived hash differs.
    assert_eq!(
        client.check_pairing_secret(&secret),
        ClientVerdict::WrongPin
    );
    // A client that carries on anyway is refused and nothing is handed out for storage.
    assert_eq!(
        session.client_pairing_secret(&client.clientpairingsecret()),
        Err(PairingError::HashMismatch)
    );
    assert_eq!(session.expected_phase(), None);
    assert_eq!(
        session.client_pairing_secret(&client.clientpairingsecret()),
        Err(PairingError::Finished)
    );
}

#[test]
fn tampered_client_signature_is_refused() {
    let (mut session, client, _) = run_to_phase_three("0000", "0000");
    let mut secret = client.clientpairingsecret();
    let last = secret.len() - 1;
    secret[last] ^= 0x01;
    assert_eq!(
        session.client_pairing_secret(&secret),
        Err(PairingError::BadClientSignature)
    );
}

#[test]
fn signature_by_another_key_is_refused() {
    let (mut session, client, _) = run_to_phase_three("9999", "9999");
    // Right secret and hash, but signed with a key that does not belong to the announced certificate.
    let mut impostor = Client::new(other_client_identity(), "9999", 7);
    impostor.client_secret = client.client_secret;
    assert_eq!(
        session.client_pairing_secret(&impostor.clientpairingsecret()),
        Err(PairingError::BadClientSignature)
    );
}

#[test]
fn tampered_client_secret_breaks_the_hash() {
    let (mut session, client, _) = run_to_phase_three("2468", "2468");
    let mut secret = client.clientpairingsecret();
    secret[0] ^= 0x80;
    assert_eq!(
        session.client_pairing_secret(&secret),
        Err(PairingError::HashMismatch)
    );
}

#[test]
fn tampered_host_secret_is_detected_by_the_client() {
    let (_, client, mut secret) = run_to_phase_three("1357", "1357");
    secret[20] ^= 0x10;
    assert_eq!(client.check_pairing_secret(&secret), ClientVerdict::Mitm);
}

#[test]
fn phases_must_come_in_order_and_a_failure_ends_the_attempt() {
    let host = host();
    let client = Client::new(client_identity(), "1111", 3);
    let (salt, cert) = client.getservercert();
    let mut session = PairingSession::new(cert, salt).expect("phase 1");
    assert_eq!(
        session.client_challenge(&host, &[0u8; 16], &random(3)),
        Err(PairingError::OutOfOrder {
            expected: Phase::GetServerCert,
            got: Phase::ClientChallenge
        })
    );
    assert_eq!(session.expected_phase(), None);
    assert_eq!(
        session.enter_pin(&host, &Pin::parse("1111").expect("pin")),
        Err(PairingError::Finished)
    );

    let mut session = PairingSession::new(cert, salt).expect("phase 1");
    session
        .enter_pin(&host, &Pin::parse("1111").expect("pin"))
        .expect("pin entered");
    assert_eq!(
        session.client_challenge(&host, &[0u8; 15], &random(3)),
        Err(PairingError::BadLength {
            field: "clientchallenge",
            got: 15,
            expected: 16
        })
    );
    assert_eq!(session.expected_phase(), None);
}

#[test]
fn short_client_pairing_secret_is_refused() {
    let (mut session, _, _) = run_to_phase_three("5555", "5555");
    assert!(matches!(
        session.client_pairing_secret(&[0u8; 16]),
        Err(PairingError::BadLength { .. })
    ));
}

#[test]
fn certificate_signature_is_the_raw_signature_value() {
    let host = host();
    let independent = cert_fields_from_pem(host_identity().cert_pem.as_bytes());
    assert_eq!(
        host.certificate().signature(),
        independent.signature.as_slice()
    );
    assert_eq!(host.certificate().signature().len(), 256);
}

#[test]
fn host_key_must_match_its_certificate() {
    let host = host_identity();
    let client = client_identity();
    assert_eq!(
        HostIdentity::from_pem(host.cert_pem.as_bytes(), client.key_pem.as_bytes()).err(),
        Some(PairingError::KeyMismatch)
    );
    assert!(matches!(
        HostIdentity::from_pem(host.cert_pem.as_bytes(), host.cert_pem.as_bytes()),
        Err(PairingError::BadPrivateKey(_))
    ));
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn host_key_may_be_pkcs1() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let id = host_identity();
    let key = rsa::PrivateKey::from_pkcs8_der(&id.key_der).expect("host key");
    let der = key.to_pkcs1_der().expect("PKCS#1 DER");
    let body = base64_encode(der.as_bytes());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("ascii"))
        .collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let host = HostIdentity::from_pem(id.cert_pem.as_bytes(), pem.as_bytes())
        .expect("PKCS#1 key accepted");
    assert_eq!(host.certificate().pem(), id.cert_pem.as_bytes());
}

#[test]
fn aes_ecb_matches_fips_197() {
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let mut block: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
    ecb_encrypt(&key, &mut block).expect("encrypt");
    assert_eq!(hex(&block), "69C4E0D86A7B0430D8CDB78070B4C55A");
    ecb_decrypt(&key, &mut block).expect("decrypt");
    assert_eq!(block, core::array::from_fn(|i| (i as u8) * 0x11));
    assert_eq!(ecb_encrypt(&key, &mut [0u8; 17]), Err(PairingError::Crypto));
}

#[test]
fn pin_must_be_four_digits() {
    assert!(Pin::parse("0042").is_ok());
    for bad in ["", "123", "12345", "12a4", "１２３４", " 123"] {
        assert_eq!(Pin::parse(bad), Err(PairingError::BadPin), "{bad:?}");
    }
}

#[test]
fn derived_key_matches_an_independent_sha256() {
    let salt = [0x3c; 16];
    let expected = sha256_of(&[&salt, b"8812"]);
    assert_eq!(
        derive_key(&salt, &Pin::parse("8812").expect("pin")).as_slice(),
        &expected[..16]
    );
}

#[test]
fn non_rsa_or_garbage_certificates_are_refused() {
    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let ec_cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .self_signed(&ec_key)
        .expect("cert");
    assert_eq!(
        Certificate::from_pem(ec_cert.pem().as_bytes()).err(),
        Some(PairingError::BadCertificate("public key is not RSA"))
    );
    assert!(
        Certificate::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(Certificate::from_pem(client_identity().key_pem.as_bytes()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_certificates_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Certificate::from_pem(&bytes);
        let _ = Certificate::from_der(&bytes);
        let _ = PairingSession::new(&bytes, [0; 16]);
    }

    #[test]
    fn corrupted_real_certificates_never_panic(index in 0usize..2000, flip in 1u8..=255) {
        let mut pem = client_identity().cert_pem.clone().into_bytes();
        let at = index % pem.len();
        pem[at] ^= flip;
        let _ = Certificate::from_pem(&pem);
        let mut der = pem_to_der(client_identity().cert_pem.as_bytes());
        let at = index % der.len();
        der[at] ^= flip;
        let _ = Certificate::from_der(&der);
    }

    #[test]
    fn hostile_phase_inputs_never_panic(
        challenge in proptest::collection::vec(any::<u8>(), 0..64),
        response in proptest::collection::vec(any::<u8>(), 0..64),
        secret in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let host = host();
        let (salt, cert) = Client::new(client_identity(), "1234", 1).getservercert();
        let mut session = PairingSession::new(cert, salt).expect("phase 1");
        let _ = session.enter_pin(&host, &Pin::parse("1234").expect("pin"));
        let _ = session.client_challenge(&host, &challenge, &random(1));
        let _ = session.server_challenge_response(&host, &response);
        // Random bytes can never complete a pairing.
        prop_assert!(session.client_pairing_secret(&secret).is_err());
    }

    #[test]
    fn ecb_round_trips(key in any::<[u8; 16]>(), blocks in proptest::collection::vec(any::<[u8; 16]>(), 1..8)) {
        let plain: Vec<u8> = blocks.concat();
        let mut data = plain.clone();
        ecb_encrypt(&key, &mut data).expect("encrypt");
        let mut independent = plain.clone();
        aes_ecb(&key, &mut independent, true);
        prop_assert_eq!(&data, &independent);
        ecb_decrypt(&key, &mut data).expect("decrypt");
        prop_assert_eq!(data, plain);
    }
}
