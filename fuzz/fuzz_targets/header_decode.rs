//! `PacketHeader::decode` on arbitrary bytes: never panics, and whatever it accepts re-encodes to a
//! header that decodes to the same value (and to the same 48 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::wire::{HEADER_LEN, PacketHeader};

fuzz_target!(|data: &[u8]| {
    let _ = PacketHeader::peek_seq(data);
    let Ok(header) = PacketHeader::decode(data) else {
        return;
    };
    assert_eq!(PacketHeader::peek_seq(data), Ok(header.seq));
    assert_eq!(header.validate(), Ok(()));
    let mut encoded = [0u8; HEADER_LEN];
    header.encode(&mut encoded);
    assert_eq!(PacketHeader::decode(&encoded), Ok(header));
    // Every field is validated and the reserved bytes must be zero, so decoding is injective.
    assert_eq!(&encoded[..], &data[..HEADER_LEN]);
});
