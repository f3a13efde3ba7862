//! GameStream RTSP: arbitrary bytes as a plaintext request (whole and fed in 5-byte steps), as a
//! response, as an `rtspenc` envelope, and as an ANNOUNCE body. Nothing may panic; a request that
//! parses and can be re-serialized parses back to itself; feeding the bytes piecewise never reaches a
//! different verdict than parsing them at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::gamestream::rtsp::{
    Progress, Role, RtspCipher, parse_encrypted_request, parse_request, parse_response,
};
use punktfunk_core::gamestream::sdp::StreamParams;

fuzz_target!(|data: &[u8]| {
    let whole = parse_request(data);
    if let Ok(Progress::Complete((request, used))) = &whole {
        assert!(*used <= data.len());
        if let Ok(bytes) = request.to_bytes() {
            match parse_request(&bytes) {
                Ok(Progress::Complete((again, n))) => {
                    assert_eq!(&again, request);
                    assert_eq!(n, bytes.len());
                }
                other => panic!("re-serialized request did not parse: {other:?}"),
            }
        }
        let _ = StreamParams::from_announce(&request.body);
    }
    // A prefix either needs more bytes or already fails; once complete, it is the same request.
    for end in (0..data.len()).step_by(5) {
        if let Ok(Progress::Complete((request, used))) = parse_request(&data[..end]) {
            assert_eq!(whole, Ok(Progress::Complete((request, used))));
            break;
        }
    }
    let _ = parse_response(data);
    let _ = StreamParams::from_announce(data);

    let host = match RtspCipher::new(&[0x42; 16], Role::Host) {
        Ok(c) => c,
        Err(_) => return,
    };
    let _ = host.open(data);
    let _ = parse_encrypted_request(data, &host);
    if let Ok(mut client) = RtspCipher::new(&[0x42; 16], Role::Client) {
        if let Ok(sealed) = client.seal(data) {
            assert_eq!(
                host.open(&sealed).map(|(_, plain)| plain),
                Ok(data.to_vec())
            );
        }
    }
});
