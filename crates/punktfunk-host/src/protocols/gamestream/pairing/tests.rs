//! The desk's waiting and bookkeeping; the cryptographic phases are covered by the core's tests and,
//! with the real client, by tests/gamestream_e2e.rs.

use super::*;
use crate::services::events::EventBus;
use crate::services::paired::PairedStore;
use proptest::prelude::*;
use std::path::PathBuf;

struct Fixture {
    dir: PathBuf,
    desk: Arc<PairingDesk>,
    identity: Arc<GameStreamIdentity>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(tag: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("pf-gs-desk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let identity = Arc::new(GameStreamIdentity::load_or_create(&dir).unwrap());
    let store = PairedStore::open(&dir).unwrap();
    let clients = Arc::new(PairedClients::load(&dir, store, EventBus::default()).unwrap());
    Fixture {
        desk: Arc::new(PairingDesk::new(identity.clone(), clients)),
        identity,
        dir,
    }
}

/// A client certificate as Moonlight makes one (any self-signed RSA certificate will do).
fn client_cert_pem() -> Vec<u8> {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "NVIDIA GameStream Client");
    params.self_signed(&key).unwrap().pem().into_bytes()
}

async fn until_pending(desk: &PairingDesk) {
    for _ in 0..200 {
        if !desk.pending().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the phase-1 request never showed up as pending");
}

#[tokio::test]
async fn phase_one_waits_for_the_pin_and_a_second_client_is_told_already_pairing() {
    let f = fixture("wait");
    let pem = client_cert_pem();
    let desk = f.desk.clone();
    let first_pem = pem.clone();
    let first = tokio::spawn(async move {
        desk.get_server_cert("first", Some("living room"), [7; 16], &first_pem)
            .await
    });
    until_pending(&f.desk).await;
    let pending = f.desk.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].client_name, "living room");

    let second = f.desk.get_server_cert("second", None, [8; 16], &pem).await;
    assert_eq!(second, PairAnswer::AlreadyPairing);

    f.desk.submit_pin("1234").unwrap();
    let answer = first.await.unwrap();
    assert_eq!(
        answer,
        PairAnswer::ServerCert(f.identity.pairing.certificate().pem().to_vec())
    );
    assert!(f.desk.pending().is_empty());
    assert_eq!(
        f.desk.submit_pin("1234"),
        Err(MoonlightPinError::NothingPending),
        "a PIN is used once"
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_withdraws_its_request() {
    let f = fixture("hangup");
    let pem = client_cert_pem();
    let desk = f.desk.clone();
    let waiting =
        tokio::spawn(async move { desk.get_server_cert("gone", None, [1; 16], &pem).await });
    until_pending(&f.desk).await;
    waiting.abort();
    let _ = waiting.await;
    assert!(f.desk.pending().is_empty());
    assert_eq!(
        f.desk.submit_pin("1234"),
        Err(MoonlightPinError::NothingPending)
    );
}

#[tokio::test]
async fn pins_and_phases_out_of_turn_are_refused_and_store_nothing() {
    let f = fixture("order");
    assert_eq!(
        f.desk.submit_pin("1234"),
        Err(MoonlightPinError::NothingPending)
    );
    assert!(matches!(
        f.desk.submit_pin("12a4"),
        Err(MoonlightPinError::Rejected(_))
    ));
    let answer = f.desk.step("x", Step::ClientChallenge(vec![0; 16]));
    assert!(
        matches!(
            answer,
            PairAnswer::Failed {
                status_code: 400,
                ..
            }
        ),
        "{answer:?}"
    );
    let bad_cert = f
        .desk
        .get_server_cert("x", None, [0; 16], b"not a certificate")
        .await;
    assert!(
        matches!(
            bad_cert,
            PairAnswer::Failed {
                status_code: 400,
                ..
            }
        ),
        "{bad_cert:?}"
    );
    assert!(!f.dir.join("paired.json").exists());
}

#[tokio::test]
async fn the_client_abandoning_after_the_pin_ends_the_attempt() {
    let f = fixture("abandon");
    let pem = client_cert_pem();
    let desk = f.desk.clone();
    let waiting = tokio::spawn(async move { desk.get_server_cert("c", None, [3; 16], &pem).await });
    until_pending(&f.desk).await;
    f.desk.submit_pin("0000").unwrap();
    assert!(matches!(waiting.await.unwrap(), PairAnswer::ServerCert(_)));
    // What Moonlight does after noticing a wrong PIN in phase 3.
    f.desk.abandon("c");
    let answer = f.desk.step("c", Step::ClientChallenge(vec![0; 16]));
    assert!(
        matches!(
            answer,
            PairAnswer::Failed {
                status_code: 400,
                ..
            }
        ),
        "{answer:?}"
    );
}

#[test]
fn device_names_from_the_network_are_cleaned() {
    assert_eq!(clean_name(None), "Moonlight");
    assert_eq!(clean_name(Some("  \u{7}\n ")), "Moonlight");
    assert_eq!(clean_name(Some("tv\u{0}room")), "tvroom");
    assert_eq!(
        clean_name(Some("roth")),
        "Moonlight",
        "the stock clients' constant"
    );
    let label = device_label("Moonlight", b"certificate");
    assert_eq!(
        label,
        format!(
            "Moonlight {}",
            &crate::services::identity::fingerprint(b"certificate")[..6]
        )
    );
    assert_eq!(device_label("Steam Deck", b"certificate"), "Steam Deck");
    assert_eq!(clean_name(Some(&"x".repeat(500))).len(), MAX_NAME);
}

proptest! {
    #[test]
    fn any_device_name_from_the_network_becomes_a_short_printable_name(name in any::<Option<String>>()) {
        let clean = clean_name(name.as_deref());
        prop_assert!(!clean.is_empty());
        prop_assert!(clean.chars().count() <= MAX_NAME);
        prop_assert!(!clean.chars().any(char::is_control));
    }
}
