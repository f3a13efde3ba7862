//! GameStream control stream: arbitrary bytes as an encrypted envelope (host side, fixed key), and as
//! decrypted plaintext for both directions' message decoders. Nothing may panic; an envelope the
//! fuzzer did not forge never opens; decoded messages re-encode to plaintext that decodes the same,
//! and survive a seal → open round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::gamestream::control::{
    ClientMessage, ControlCipher, HostControl, HostMessage, Origin,
};

const KEY: [u8; 16] = *b"punktfunk-fuzzer";

fuzz_target!(|data: &[u8]| {
    let Ok(mut host) = HostControl::new(&KEY) else {
        return;
    };
    let _ = host.open(data);

    if let Ok(message) = ClientMessage::from_plaintext(data) {
        // Compared as bytes: input events may carry NaN floats.
        let plaintext = message.to_plaintext();
        let again = ClientMessage::from_plaintext(&plaintext).expect("re-encoded message decodes");
        assert_eq!(again.to_plaintext(), plaintext);
        let cipher = ControlCipher::new(&KEY).expect("fixed key");
        let packet = cipher
            .seal(Origin::Client, 7, &plaintext)
            .expect("short plaintext seals");
        let opened = host.open(&packet).expect("own packet opens");
        assert_eq!(opened.to_plaintext(), plaintext);
    }
    if let Ok(message) = HostMessage::from_plaintext(data) {
        let again = HostMessage::from_plaintext(&message.to_plaintext());
        assert_eq!(again.as_ref(), Ok(&message));
    }
});
