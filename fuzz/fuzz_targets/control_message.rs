//! Control-plane input: arbitrary bytes as a length-prefixed stream and as message bodies. Decoding
//! must never panic, and whatever decodes must re-encode to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::control::{FrameBuffer, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
    let mut stream = FrameBuffer::new();
    for chunk in data.chunks(7) {
        stream.extend(chunk);
        while let Ok(Some(body)) = stream.next_body() {
            let _ = Message::decode(&body);
        }
    }
});
