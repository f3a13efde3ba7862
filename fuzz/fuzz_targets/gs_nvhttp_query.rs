//! GameStream HTTP requests: arbitrary bytes as a request target, a bare query and a launch/pair
//! query, and as the client certificate of a pairing request (PEM and DER). Parsing must never
//! panic, and a query that parses must re-encode to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::gamestream::nvhttp::{
    PairPhase, PairRequest, Query, Request, decode_hex, encode_hex, parse_request,
};
use punktfunk_core::gamestream::pairing::Certificate;

fuzz_target!(|data: &[u8]| {
    let _ = Certificate::from_pem(data);
    let _ = Certificate::from_der(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_request(text);
    let _ = parse_request(&format!("/launch?{text}"));
    if let Ok(Request::Pair(PairRequest {
        phase: PairPhase::GetServerCert {
            client_cert_pem, ..
        },
        ..
    })) = parse_request(&format!("/pair?{text}"))
    {
        let _ = Certificate::from_pem(&client_cert_pem);
    }
    if let Ok(query) = Query::parse(text) {
        assert_eq!(Query::parse(&query.encode()), Ok(query));
    }
    if let Some(bytes) = decode_hex(text) {
        assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes));
    }
});
