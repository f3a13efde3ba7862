use super::*;
use proptest::prelude::*;

const KEY: [u8; 16] = *b"0123456789abcdef";

/// The ANNOUNCE Moonlight sends (RtspConnection.c: CSeq, X-GS-ClientVersion, Host, Session,
/// Content-type, Content-length, in that order).
fn moonlight_announce(body: &str) -> Vec<u8> {
    format!(
        "ANNOUNCE streamid=control/13/0 RTSP/1.0\r\nCSeq: 6\r\nX-GS-ClientVersion: 14\r\nHost: 10.0.0.2\r\n\
         Session: DEADBEEFCAFE\r\nContent-type: application/sdp\r\nContent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn complete(buf: &[u8]) -> (RtspRequest, usize) {
    match parse_request(buf) {
        Ok(Progress::Complete(done)) => done,
        other => panic!("expected a complete request, got {other:?}"),
    }
}

#[test]
fn parses_moonlight_announce_with_body() {
    let body = "v=0\r\na=x-nv-video[0].clientViewportWd:1920 \r\n";
    let bytes = moonlight_announce(body);
    let (request, used) = complete(&bytes);
    assert_eq!(used, bytes.len());
    assert_eq!(request.method, Method::Announce);
    assert_eq!(request.target, "streamid=control/13/0");
    assert_eq!(request.stream(), Some(StreamKind::Control));
    assert_eq!(request.cseq, 6);
    assert_eq!(
        request.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(request.header("Host"), Some("10.0.0.2"));
    assert_eq!(request.body, body.as_bytes());
}

#[test]
fn incomplete_input_asks_for_more_until_the_last_byte() {
    let bytes = moonlight_announce("a=x:1 \r\n");
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_request(&bytes[..cut]),
            Ok(Progress::NeedMore),
            "cut at {cut}"
        );
    }
    assert_eq!(complete(&bytes).1, bytes.len());
    // Whatever follows the request is left to the caller (one request per connection).
    let mut extra = bytes.clone();
    extra.extend_from_slice(b"OPTIONS");
    assert_eq!(complete(&extra).1, bytes.len());
}

#[test]
fn setup_targets_name_their_stream() {
    for (target, kind) in [
        ("streamid=audio/0/0", Some(StreamKind::Audio)),
        ("streamid=video/0/0", Some(StreamKind::Video)),
        ("streamid=control/13/0", Some(StreamKind::Control)),
        ("streamid=bogus/0/0", None),
        ("rtsp://10.0.0.2:48010", None),
    ] {
        let bytes = format!(
            "SETUP {target} RTSP/1.0\r\nCSeq: 3\r\nTransport: unicast;X-GS-ClientPort=50000-50001\r\n\r\n"
        );
        assert_eq!(complete(bytes.as_bytes()).0.stream(), kind, "{target}");
    }
}

#[test]
fn malformed_requests_get_specific_errors() {
    let cases: [(&[u8], RtspError); 10] = [
        (
            b"OPTIONS rtsp://h RTSP/1.0\r\nX: 1\r\n\r\n",
            RtspError::BadCSeq,
        ),
        (
            b"OPTIONS rtsp://h RTSP/1.0\r\nCSeq: -1\r\n\r\n",
            RtspError::BadCSeq,
        ),
        (
            b"OPTIONS rtsp://h RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n",
            RtspError::DuplicateHeader("CSeq"),
        ),
        (
            b"ANNOUNCE x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab",
            RtspError::DuplicateHeader("Content-Length"),
        ),
        (
            b"ANNOUNCE x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 0x10\r\n\r\n",
            RtspError::BadContentLength,
        ),
        (
            b"OPTIONS rtsp://h HTTP/1.1\r\nCSeq: 1\r\n\r\n",
            RtspError::BadVersion,
        ),
        (
            b"OPTIONS  rtsp://h RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            RtspError::BadRequestLine,
        ),
        (
            b"options x RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            RtspError::BadRequestLine,
        ),
        (
            b"OPTIONS x RTSP/1.0\r\nno colon\r\n\r\n",
            RtspError::BadHeader,
        ),
        (b"\x80\x00\x01\x00\x00\x00\x00\x01", RtspError::NotText),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            parse_request(bytes),
            Err(expected.clone()),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    let too_big = format!(
        "ANNOUNCE x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    assert_eq!(
        parse_request(too_big.as_bytes()),
        Err(RtspError::BodyTooLarge)
    );
    let long_head = format!("OPTIONS x RTSP/1.0\r\nX: {}", "a".repeat(MAX_HEAD));
    assert_eq!(
        parse_request(long_head.as_bytes()),
        Err(RtspError::HeadTooLarge)
    );
    let many = format!(
        "OPTIONS x RTSP/1.0\r\nCSeq: 1\r\n{}\r\n",
        "X: 1\r\n".repeat(MAX_HEADERS)
    );
    assert_eq!(
        parse_request(many.as_bytes()),
        Err(RtspError::TooManyHeaders)
    );
}

#[test]
fn binary_body_is_fine_after_the_head() {
    let mut bytes = b"ANNOUNCE x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0x42, 0x77, 0x41, 0x00]);
    assert_eq!(complete(&bytes).0.body, [0x42, 0x77, 0x41, 0x00]);
}

#[test]
fn responses_follow_the_client_framing_rules() {
    let bytes = RtspResponse::ok(2).to_bytes().expect("serializes");
    assert_eq!(bytes, b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n");

    let describe = RtspResponse::ok(3)
        .with_body("a=x-ss-general.featureFlags:0\n")
        .to_bytes()
        .expect("serializes");
    assert_eq!(
        describe,
        b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 30\r\n\r\na=x-ss-general.featureFlags:0\n"
    );

    let setup = setup_response(4, StreamKind::Audio, 48000, "0123456789ABCDEF", 0);
    let text = String::from_utf8(setup.to_bytes().expect("serializes")).expect("text");
    assert!(text.contains("\r\nSession: DEADBEEFCAFE;timeout = 90\r\n"));
    assert!(text.contains("\r\nTransport: server_port=48000\r\n"));
    assert!(text.contains("\r\nX-SS-Ping-Payload: 0123456789ABCDEF\r\n"));
    let control = setup_response(5, StreamKind::Control, 47999, "", 0xdead_beef);
    assert_eq!(control.header("X-SS-Connect-Data"), Some("3735928559"));
    assert_eq!(
        control.header("x-ss-connect-data"),
        None,
        "clients match names case-sensitively"
    );

    assert_eq!(
        RtspResponse::ok(1)
            .with_header("X", "a\r\nEvil: 1")
            .to_bytes(),
        Err(RtspError::Unsendable("a\r\nEvil: 1".into()))
    );
    assert!(
        RtspResponse::ok(1)
            .with_header("Bad Name", "x")
            .to_bytes()
            .is_err()
    );
    let mut empty = RtspResponse::not_found(1);
    empty.headers.clear();
    assert_eq!(empty.to_bytes(), Err(RtspError::NoHeaders));
}

#[test]
fn envelope_layout_matches_the_reference() {
    let mut client = RtspCipher::new(&KEY, Role::Client).expect("key");
    let plain = b"OPTIONS rtsp://10.0.0.2:48010 RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    let sealed = client.seal(plain).expect("seal");
    assert_eq!(sealed.len(), ENVELOPE_HEADER_LEN + plain.len());
    assert_eq!(
        sealed[..4],
        (0x8000_0000u32 | plain.len() as u32).to_be_bytes()
    );
    assert_eq!(sealed[4..8], 1u32.to_be_bytes());

    // Independently: AES-128-GCM with nonce LE32(seq) ‖ 0×6 ‖ 'C' ‖ 'R', no AAD, tag in bytes 8..24.
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &KEY).expect("key"));
    let mut n = [0u8; 12];
    n[0] = 1;
    n[10] = b'C';
    n[11] = b'R';
    let mut in_out = sealed[24..].to_vec();
    in_out.extend_from_slice(&sealed[8..24]);
    let opened = key
        .open_in_place(Nonce::assume_unique_for_key(n), Aad::empty(), &mut in_out)
        .expect("opens with the reference nonce");
    assert_eq!(opened, plain);

    let second = client.seal(plain).expect("seal");
    assert_eq!(second[4..8], 2u32.to_be_bytes());
}

#[test]
fn host_opens_client_messages_and_client_opens_host_messages() {
    let mut client = RtspCipher::new(&KEY, Role::Client).expect("key");
    let mut host = RtspCipher::new(&KEY, Role::Host).expect("key");
    let request = moonlight_announce("a=x:1 \r\n");
    let sealed = client.seal(&request).expect("seal");
    for cut in 0..sealed.len() {
        assert_eq!(
            parse_encrypted_request(&sealed[..cut], &host),
            Ok(Progress::NeedMore),
            "cut {cut}"
        );
    }
    let Ok(Progress::Complete((seq, parsed, used))) = parse_encrypted_request(&sealed, &host)
    else {
        panic!("complete encrypted request");
    };
    assert_eq!((seq, used), (1, sealed.len()));
    assert_eq!(parsed.cseq, 6);

    let reply = host
        .seal(&RtspResponse::ok(6).to_bytes().expect("bytes"))
        .expect("seal");
    let (_, plain) = client.open(&reply).expect("client opens");
    assert_eq!(parse_response(&plain).expect("response").status, 200);

    // A message opened by the wrong side (its own direction) fails: the nonces differ.
    assert_eq!(host.open(&reply), Err(RtspError::Decrypt));
}

#[test]
fn envelope_rejections() {
    let mut client = RtspCipher::new(&KEY, Role::Client).expect("key");
    let host = RtspCipher::new(&KEY, Role::Host).expect("key");
    let sealed = client
        .seal(b"OPTIONS x RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        .expect("seal");

    assert_eq!(
        parse_encrypted_request(b"OPTIONS x RTSP/1.0\r\n", &host),
        Err(RtspError::Unencrypted)
    );
    let mut tampered = sealed.clone();
    tampered[30] ^= 1;
    assert_eq!(host.open(&tampered), Err(RtspError::Decrypt));
    let mut wrong_seq = sealed.clone();
    wrong_seq[7] = 9;
    assert_eq!(host.open(&wrong_seq), Err(RtspError::Decrypt));
    assert_eq!(
        host.open(&sealed[..sealed.len() - 1]),
        Err(RtspError::EnvelopeLengthMismatch)
    );
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(host.open(&longer), Err(RtspError::EnvelopeLengthMismatch));
    let oversized = (0x8000_0000u32 | (MAX_HEAD + MAX_BODY + 1) as u32).to_be_bytes();
    assert_eq!(
        RtspCipher::envelope_len(&oversized),
        Err(RtspError::EnvelopeTooLarge)
    );
    let other_key = RtspCipher::new(&[7; 16], Role::Host).expect("key");
    assert_eq!(other_key.open(&sealed), Err(RtspError::Decrypt));

    // An envelope holding half a request is refused rather than waited on.
    let half = client
        .seal(b"OPTIONS x RTSP/1.0\r\nCSeq: 1\r\n")
        .expect("seal");
    assert_eq!(
        parse_encrypted_request(&half, &host),
        Err(RtspError::EnvelopeLengthMismatch)
    );
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("reserved", |n| {
        !n.eq_ignore_ascii_case("CSeq") && !n.eq_ignore_ascii_case("Content-Length")
    })
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_request(&bytes);
        let _ = parse_response(&bytes);
        let host = RtspCipher::new(&KEY, Role::Host).expect("key");
        let _ = host.open(&bytes);
        let _ = parse_encrypted_request(&bytes, &host);
    }

    #[test]
    fn hostile_text_never_panics(text in "[A-Z :/=\\-\r\n0-9a-z]{0,300}") {
        let _ = parse_request(text.as_bytes());
        let _ = parse_response(text.as_bytes());
    }

    #[test]
    fn requests_round_trip(
        method in prop_oneof![Just(Method::Options), Just(Method::Describe), Just(Method::Setup), Just(Method::Announce), Just(Method::Play), "[A-Z]{1,10}".prop_map(|m| Method::parse(&m))],
        target in "[!-~]{1,40}",
        cseq in any::<u32>(),
        headers in proptest::collection::vec((header_name(), "[ -~]{0,30}".prop_map(|v| v.trim().to_string())), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut all = vec![("CSeq".to_string(), cseq.to_string())];
        all.extend(headers);
        if !body.is_empty() {
            all.push(("Content-length".to_string(), body.len().to_string()));
        }
        let request = RtspRequest { method, target, cseq, headers: all, body };
        let bytes = request.to_bytes().expect("serializes");
        let Ok(Progress::Complete((parsed, used))) = parse_request(&bytes) else {
            return Err(TestCaseError::fail("did not parse back"));
        };
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(parsed, request);
    }

    #[test]
    fn responses_round_trip(
        status in 100u16..1000,
        reason in "[A-Za-z][ -~]{0,20}".prop_map(|r| r.trim_end().to_string()),
        cseq in any::<u32>(),
        headers in proptest::collection::vec((header_name(), "[!-~]([ -~]{0,30}[!-~])?"), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut response = RtspResponse::new(status, &reason, cseq).with_body(body.clone());
        for (n, v) in headers {
            response = response.with_header(&n, v);
        }
        let parsed = parse_response(&response.to_bytes().expect("serializes")).expect("parses back");
        prop_assert_eq!(parsed.status, status);
        prop_assert_eq!(&parsed.reason, &reason);
        prop_assert_eq!(&parsed.body, &body);
        let expected_headers = response.headers.len() + usize::from(!body.is_empty());
        prop_assert_eq!(parsed.headers.len(), expected_headers);
        prop_assert_eq!(&parsed.headers[..response.headers.len()], &response.headers[..]);
    }

    #[test]
    fn envelopes_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..2000), skip in 0u32..5) {
        let mut host = RtspCipher::new(&KEY, Role::Host).expect("key");
        let client = RtspCipher::new(&KEY, Role::Client).expect("key");
        for _ in 0..skip {
            host.seal(b"x").expect("seal");
        }
        let sealed = host.seal(&plain).expect("seal");
        prop_assert_eq!(client.open(&sealed), Ok((skip + 1, plain)));
    }
}

/// The whole Moonlight RTSP handshake over `rtspenc://`, one connection per request, with the host
/// side built from this module and `sdp`: what the client reads back is checked the way
/// moonlight-common-c checks it.
#[test]
fn moonlight_handshake_over_rtspenc() {
    use crate::gamestream::sdp::{CodecCaps, HostCapabilities, StreamParams};

    let caps = HostCapabilities {
        h264: CodecCaps {
            supported: true,
            ..CodecCaps::default()
        },
        hevc: CodecCaps {
            supported: true,
            main10: true,
            yuv444: false,
            yuv444_ten_bit: false,
        },
        av1: CodecCaps::default(),
        max_audio_channels: 8,
        video_encryption: false,
        require_encryption: false,
        reference_frame_invalidation: false,
        feature_flags: 0,
    };
    let mut client = RtspCipher::new(&KEY, Role::Client).expect("key");
    let mut host = RtspCipher::new(&KEY, Role::Host).expect("key");
    let announce = "v=0\r\na=x-ss-general.encryptionEnabled:5 \r\na=x-nv-video[0].clientViewportWd:1280 \r\n\
        a=x-nv-video[0].clientViewportHt:720 \r\na=x-nv-video[0].maxFPS:60 \r\na=x-nv-video[0].packetSize:1392 \r\n\
        a=x-nv-vqos[0].bw.maximumBitrateKbps:8000 \r\na=x-nv-video[0].videoEncoderSlicesPerFrame:1 \r\n\
        a=x-nv-vqos[0].bitStreamFormat:1 \r\na=x-nv-video[0].maxNumReferenceFrames:1 \r\n\
        a=x-nv-audio.surround.numChannels:2 \r\na=x-nv-audio.surround.channelMask:3 \r\n\
        a=x-nv-audio.surround.AudioQuality:0 \r\nt=0 0\r\n";
    // (method, target, extra headers, body) in Moonlight's order.
    type Step<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let requests: Vec<Step> = vec![
        (Method::Options, "rtspenc://10.0.0.2:48010", vec![], ""),
        (
            Method::Describe,
            "rtspenc://10.0.0.2:48010",
            vec![("Accept", "application/sdp")],
            "",
        ),
        (
            Method::Setup,
            "streamid=audio/0/0",
            vec![("Transport", "unicast;X-GS-ClientPort=50000-50001")],
            "",
        ),
        (
            Method::Setup,
            "streamid=video/0/0",
            vec![("Session", "DEADBEEFCAFE")],
            "",
        ),
        (
            Method::Setup,
            "streamid=control/13/0",
            vec![("Session", "DEADBEEFCAFE")],
            "",
        ),
        (
            Method::Announce,
            "streamid=control/13/0",
            vec![
                ("Session", "DEADBEEFCAFE"),
                ("Content-type", "application/sdp"),
            ],
            announce,
        ),
        (Method::Play, "/", vec![("Session", "DEADBEEFCAFE")], ""),
    ];
    let mut announced = None;
    for (index, (method, target, extra, body)) in requests.into_iter().enumerate() {
        let cseq = index as u32 + 1;
        let mut headers = vec![
            ("CSeq".to_string(), cseq.to_string()),
            ("X-GS-ClientVersion".to_string(), "14".to_string()),
            ("Host".to_string(), "10.0.0.2".to_string()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        if !body.is_empty() {
            headers.push(("Content-length".to_string(), body.len().to_string()));
        }
        let request = RtspRequest {
            method,
            target: target.to_string(),
            cseq,
            headers,
            body: body.as_bytes().to_vec(),
        };
        let wire = client
            .seal(&request.to_bytes().expect("request bytes"))
            .expect("seal");

        // Host: one connection, one request.
        let Ok(Progress::Complete((seq, got, used))) = parse_encrypted_request(&wire, &host) else {
            panic!("host could not read request {cseq}");
        };
        assert_eq!((seq, used), (cseq, wire.len()));
        let reply = match (&got.method, got.stream()) {
            (Method::Options | Method::Play, _) => RtspResponse::ok(got.cseq),
            (Method::Describe, _) => RtspResponse::ok(got.cseq).with_body(caps.describe_body()),
            (Method::Setup, Some(kind)) => {
                let port = match kind {
                    StreamKind::Audio => 48000,
                    StreamKind::Video => 47998,
                    StreamKind::Control => 47999,
                };
                setup_response(got.cseq, kind, port, "00112233AABBCCDD", 77)
            }
            (Method::Announce, _) => {
                let params = StreamParams::from_announce(&got.body).expect("announce parses");
                caps.check(&params).expect("host can serve it");
                announced = Some(params);
                RtspResponse::ok(got.cseq)
            }
            _ => RtspResponse::not_found(got.cseq),
        };
        let reply_wire = host
            .seal(&reply.to_bytes().expect("reply bytes"))
            .expect("seal");

        // Client: read until close, open, parse, check as moonlight-common-c does.
        let (_, plain) = client.open(&reply_wire).expect("client opens the reply");
        let response = parse_response(&plain).expect("client parses the reply");
        assert_eq!(response.status, 200, "request {cseq}");
        assert_eq!(response.header("CSeq"), Some(cseq.to_string().as_str()));
        match cseq {
            2 => {
                let sdp = String::from_utf8(response.body.clone()).expect("text");
                assert!(sdp.contains("sprop-parameter-sets=AAAAAU"));
                assert!(sdp.contains("a=fmtp:97 surround-params=21101"));
            }
            3 => {
                assert!(response.header("Session").is_some());
                assert_eq!(response.header("Transport"), Some("server_port=48000"));
                assert_eq!(response.header("X-SS-Ping-Payload").map(str::len), Some(16));
            }
            5 => assert_eq!(response.header("X-SS-Connect-Data"), Some("77")),
            _ => {}
        }
    }
    let params = announced.expect("ANNOUNCE was seen");
    assert_eq!((params.width, params.height, params.fps), (1280, 720, 60));
    assert_eq!(params.encryption, 5);
}
