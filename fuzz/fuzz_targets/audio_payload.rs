//! `AudioPayload::decode` on arbitrary bytes (the payload of an audio-kind frame): never panics, and
//! whatever it accepts re-encodes to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::audio::packet::AudioPayload;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = AudioPayload::decode(data) else {
        return;
    };
    let mut encoded = Vec::new();
    payload.encode(&mut encoded).expect("a decoded payload encodes");
    assert_eq!(encoded, data);
    assert_eq!(payload.encoded_len(), data.len());
});
