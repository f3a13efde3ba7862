//! The SPAKE2 pairing exchange with hostile messages: a client and a host run it with the same PIN and
//! fingerprints while the fuzzer replaces one of the four messages (or decodes its bytes as a control
//! message first, as the real sides do). Nothing may panic, and the exchange completes exactly when
//! every message arrived as sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::control::Message;
use punktfunk_core::pairing::{ClientPairing, HostPairing};

const CLIENT: [u8; 32] = [0xc1; 32];
const HOST: [u8; 32] = [0x40; 32];

/// The bytes that replace message `which`, if the fuzzer chose to replace it.
fn substitute(which: u8, data: &[u8], step: u8, original: Vec<u8>) -> Vec<u8> {
    if which % 5 != step {
        return original;
    }
    // Half of the time the replacement goes through the control-message decoder like real input.
    match data.split_first() {
        Some((&0, body)) => match Message::decode(body) {
            Ok(Message::PairStart { spake, .. }) | Ok(Message::PairChallenge { spake }) => spake,
            Ok(Message::PairConfirm { mac }) | Ok(Message::PairDone { mac }) => mac,
            _ => original,
        },
        _ => data.to_vec(),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    let (client, spake_a) = ClientPairing::start("123456", &CLIENT, &HOST);
    let sent_a = substitute(which, data, 0, spake_a.clone());
    let Ok((host, spake_b)) = HostPairing::respond("123456", &CLIENT, &HOST, &sent_a) else {
        assert_ne!(sent_a, spake_a, "an untouched PairStart must be accepted");
        return;
    };
    let sent_b = substitute(which, data, 1, spake_b.clone());
    let Ok((client, mac_c)) = client.on_challenge(&sent_b) else {
        assert_ne!(
            sent_b, spake_b,
            "an untouched PairChallenge must be accepted"
        );
        return;
    };
    let sent_c = substitute(which, data, 2, mac_c.clone());
    let Ok(mac_h) = host.on_confirm(&sent_c) else {
        assert!(
            sent_a != spake_a || sent_b != spake_b || sent_c != mac_c,
            "an untouched exchange must confirm"
        );
        return;
    };
    assert!(
        sent_a == spake_a && sent_b == spake_b && sent_c == mac_c,
        "the host accepted a changed exchange"
    );
    let sent_h = substitute(which, data, 3, mac_h.clone());
    assert_eq!(
        client.on_done(&sent_h).is_ok(),
        sent_h == mac_h,
        "the client's verdict on the host's proof"
    );
});
