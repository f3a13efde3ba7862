//! GameStream input packets (the payload of control message 0x0206): arbitrary bytes, and the same
//! bytes framed with a correct size field so the fuzzer reaches every body decoder. Nothing may
//! panic, and whatever decodes re-encodes to a packet that decodes to the same bytes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::gamestream::input::InputEvent;

fn check(packet: &[u8]) {
    if let Ok(event) = InputEvent::decode(packet) {
        let encoded = event.encode();
        let again = InputEvent::decode(&encoded).expect("re-encoded event decodes");
        // Compared as bytes: NaN floats are not equal to themselves.
        assert_eq!(again.encode(), encoded);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut framed = ((data.len() + 4) as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(data);
    check(&framed);
});
