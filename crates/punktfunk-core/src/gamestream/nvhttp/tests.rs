use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Reads `<tag>text</tag>` the way Moonlight's `getXmlString` does: first element of that name,
/// entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn status_code(xml: &str) -> u16 {
    let at = xml.find("status_code=\"").expect("status_code attribute") + "status_code=\"".len();
    let end = at + xml[at..].find('"').expect("closing quote");
    xml[at..end].parse().expect("numeric status")
}

/// The query moonlight-qt builds for `/launch` (NvHTTP::startApp plus LiGetLaunchUrlQueryParameters).
fn moonlight_launch_target(verb: &str) -> String {
    format!(
        "/{verb}?uniqueid=0123456789ABCDEF&uuid=5c7b0b7a9f0e4e7e9b7f2f0d3a1c4b5e&appid=881448767\
         &mode=1920x1080x60&additionalStates=1&sops=0&rikey=00112233445566778899aabbccddeeff\
         &rikeyid=-1412584499&hdrMode=1&clientHdrCapVersion=0&clientHdrCapSupportedFlagsInUint32=0\
         &clientHdrCapMetaDataId=NV_STATIC_METADATA_TYPE_1&clientHdrCapDisplayData=0x0x0x0x0x0x0x0x0x0x0\
         &localAudioPlayMode=0&surroundAudioInfo=196610&remoteControllersBitmap=1&gcmap=1&gcpersist=0&corever=1"
    )
}

#[test]
fn parses_moonlight_launch() {
    let Request::Launch(launch) =
        parse_request(&moonlight_launch_target("launch")).expect("launch")
    else {
        panic!("a launch request");
    };
    assert_eq!(launch.app_id, Some(881448767));
    assert_eq!(
        launch.mode,
        Some(DisplayMode {
            width: 1920,
            height: 1080,
            fps: 60
        })
    );
    assert_eq!(launch.rikey, core::array::from_fn(|i| (i as u8) * 0x11));
    assert_eq!(launch.rikeyid, -1412584499);
    assert!(launch.hdr_mode && launch.additional_states && !launch.sops);
    assert!(!launch.local_audio_play_mode);
    assert_eq!(launch.surround_audio_info, SurroundAudioInfo::STEREO);
    assert_eq!(launch.surround_audio_info.to_wire(), 196610);
    assert_eq!((launch.remote_controllers_bitmap, launch.gcmap), (1, 1));
    assert!(launch.wants_encrypted_rtsp());
    assert_eq!(launch.common.unique_id.as_deref(), Some("0123456789ABCDEF"));
}

#[test]
fn resume_does_not_need_an_app_but_launch_does() {
    let resume = moonlight_launch_target("resume").replace("&appid=881448767", "");
    assert!(matches!(
        parse_request(&resume),
        Ok(Request::Resume(LaunchRequest { app_id: None, .. }))
    ));
    let launch = moonlight_launch_target("launch").replace("&appid=881448767", "");
    assert_eq!(
        parse_request(&launch),
        Err(RequestError::Query(QueryError::Missing("appid")))
    );
}

/// moonlight-common-c resumes with the keys and the audio layout only (no mode, no local-audio
/// choice): those stay as launched.
#[test]
fn moonlights_bare_resume_parses() {
    let resume = "/resume?uniqueid=0123456789ABCDEF&uuid=5c7b0b7a9f0e4e7e9b7f2f0d3a1c4b5e\
                  &rikey=00112233445566778899aabbccddeeff&rikeyid=7&surroundAudioInfo=196610&corever=1";
    let Ok(Request::Resume(resume)) = parse_request(resume) else {
        panic!("{:?}", parse_request(resume));
    };
    assert_eq!(
        (resume.app_id, resume.mode, resume.rikeyid),
        (None, None, 7)
    );
    assert!(!resume.local_audio_play_mode);
    let launch = moonlight_launch_target("launch").replace("&localAudioPlayMode=0", "");
    assert_eq!(
        parse_request(&launch),
        Err(RequestError::Query(QueryError::Missing(
            "localAudioPlayMode"
        )))
    );
}

#[test]
fn launch_requires_the_key_material_and_audio_mode() {
    for (param, missing) in [
        ("&rikey=00112233445566778899aabbccddeeff", "rikey"),
        ("&rikeyid=-1412584499", "rikeyid"),
        ("&localAudioPlayMode=0", "localAudioPlayMode"),
    ] {
        let target = moonlight_launch_target("launch").replace(param, "");
        let err = parse_request(&target).expect_err(missing);
        assert_eq!(err, RequestError::Query(QueryError::Missing(missing)));
        assert_eq!(err.status_code(), 400);
    }
    let short_key = moonlight_launch_target("launch").replace("aabbccddeeff", "aabbccddee");
    assert!(matches!(
        parse_request(&short_key),
        Err(RequestError::Query(QueryError::Invalid {
            key: "rikey",
            ..
        }))
    ));
    let bad_mode = moonlight_launch_target("launch").replace("1920x1080x60", "1920x1080");
    assert!(matches!(
        parse_request(&bad_mode),
        Err(RequestError::Query(QueryError::Invalid { key: "mode", .. }))
    ));
}

#[test]
fn surround_info_splits_mask_and_count() {
    let info = SurroundAudioInfo::from_wire(0x063F_0006);
    assert_eq!((info.channel_count, info.channel_mask), (6, 0x063F));
    assert_eq!(info.to_wire(), 0x063F_0006);
}

#[test]
fn parses_every_pair_phase() {
    let cert_hex = encode_hex(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let target = format!(
        "/pair?uniqueid=0123456789ABCDEF&uuid=ab&devicename=roth&updateState=1&phrase=getservercert\
         &salt=000102030405060708090a0b0c0d0E0F&clientcert={cert_hex}"
    );
    let Request::Pair(pair) = parse_request(&target).expect("phase 1") else {
        panic!("pair request");
    };
    assert_eq!(pair.device_name.as_deref(), Some("roth"));
    let PairPhase::GetServerCert {
        salt,
        client_cert_pem,
    } = pair.phase
    else {
        panic!("getservercert");
    };
    assert_eq!(salt, core::array::from_fn(|i| i as u8));
    assert!(client_cert_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));

    let phase =
        |query: &str| match parse_request(&format!("/pair?uniqueid=x&devicename=roth&{query}")) {
            Ok(Request::Pair(p)) => Ok(p.phase),
            Ok(other) => panic!("not a pair request: {other:?}"),
            Err(e) => Err(e),
        };
    assert_eq!(
        phase("clientchallenge=ABCD"),
        Ok(PairPhase::ClientChallenge(vec![0xab, 0xcd]))
    );
    assert_eq!(
        phase("serverchallengeresp=01"),
        Ok(PairPhase::ServerChallengeResp(vec![1]))
    );
    assert_eq!(
        phase("clientpairingsecret=ff00"),
        Ok(PairPhase::ClientPairingSecret(vec![0xff, 0]))
    );
    assert_eq!(phase("phrase=pairchallenge"), Ok(PairPhase::PairChallenge));
    assert_eq!(phase("updateState=1"), Err(RequestError::NoPairPhase));
    assert!(matches!(
        phase("clientchallenge=abc"),
        Err(RequestError::Query(QueryError::Invalid {
            key: "clientchallenge",
            ..
        }))
    ));
    assert!(matches!(
        phase("phrase=getservercert&salt=00&clientcert=00"),
        Err(RequestError::Query(QueryError::Invalid { key: "salt", .. }))
    ));
}

#[test]
fn simple_verbs_and_unknown_paths() {
    assert!(matches!(
        parse_request("/serverinfo"),
        Ok(Request::ServerInfo(_))
    ));
    assert!(matches!(
        parse_request("/unpair?uniqueid=1"),
        Ok(Request::Unpair(_))
    ));
    assert!(matches!(
        parse_request("/applist?uniqueid=1"),
        Ok(Request::AppList(_))
    ));
    assert!(matches!(
        parse_request("/cancel?uniqueid=1"),
        Ok(Request::Cancel(_))
    ));
    assert_eq!(
        parse_request("/appasset?appid=5&AssetType=2&AssetIdx=0"),
        Ok(Request::AppAsset(AppAssetRequest {
            common: Common::default(),
            app_id: 5,
            asset_type: Some(2),
            asset_index: Some(0)
        }))
    );
    let err = parse_request("/serverinfo/../etc").expect_err("unknown");
    assert_eq!(err.status_code(), 404);
}

#[test]
fn query_decoding_rules() {
    let q = Query::parse("a=1%202&b=x+y&c&&d=%E2%9C%93").expect("query");
    assert_eq!(q.get("a"), Ok(Some("1 2")));
    assert_eq!(q.get("b"), Ok(Some("x y")));
    assert_eq!(q.get("c"), Ok(Some("")));
    assert_eq!(q.get("d"), Ok(Some("✓")));
    assert_eq!(q.get("missing"), Ok(None));
    assert_eq!(q.required("missing"), Err(QueryError::Missing("missing")));
    assert_eq!(Query::parse("a=%4"), Err(QueryError::BadEscape));
    assert_eq!(Query::parse("a=%zz"), Err(QueryError::BadEscape));
    assert_eq!(Query::parse("a=%ff"), Err(QueryError::NotUtf8));
    let repeated = Query::parse("uniqueid=1&uniqueid=2").expect("parses");
    assert_eq!(
        repeated.get("uniqueid"),
        Err(QueryError::Repeated("uniqueid".into()))
    );
    assert!(matches!(
        parse_request("/serverinfo?uniqueid=1&uniqueid=1"),
        Err(RequestError::Query(QueryError::Repeated(_)))
    ));
    assert_eq!(
        Query::parse(&"a=1&".repeat(65)),
        Err(QueryError::TooManyPairs)
    );
    assert_eq!(
        Query::parse(&"a".repeat(MAX_QUERY_LEN + 1)),
        Err(QueryError::TooLong)
    );
    // Numbers are plain decimal: no sign games, no hex, no blanks.
    for bad in ["+5", " 5", "0x5", "5 ", ""] {
        let q = Query::from_pairs([("appid", bad)]);
        assert!(q.parsed::<u32>("appid").is_err(), "{bad:?}");
    }
    assert_eq!(
        Query::from_pairs([("n", "-7")]).parsed::<i32>("n"),
        Ok(Some(-7))
    );
    assert!(
        Query::from_pairs([("n", "4294967296")])
            .parsed::<u32>("n")
            .is_err()
    );
}

fn server_info() -> ServerInfo {
    ServerInfo {
        hostname: "Ben's <Box> & \"Co\"\u{1}".into(),
        unique_id: "8f0e7a3c-1111-2222-3333-444455556666".into(),
        https_port: 47984,
        http_port: 47989,
        mac: None,
        local_ip: "192.168.1.20".into(),
        codec_mode_support: 0x1 | 0x100,
        hevc_supported: true,
        paired: false,
        current_game: None,
        display_modes: vec![DisplayMode {
            width: 2560,
            height: 1440,
            fps: 120,
        }],
    }
}

#[test]
fn serverinfo_carries_every_field_moonlight_reads() {
    let xml = server_info().to_xml();
    assert_eq!(status_code(&xml), 200);
    assert_eq!(
        xml_text(&xml, "hostname").as_deref(),
        Some("Ben's <Box> & \"Co\"")
    );
    assert!(xml.contains("Ben&apos;s &lt;Box&gt; &amp; &quot;Co&quot;"));
    for (tag, value) in [
        ("appversion", "7.1.431.-1"),
        ("GfeVersion", "3.23.0.74"),
        ("uniqueid", "8f0e7a3c-1111-2222-3333-444455556666"),
        ("HttpsPort", "47984"),
        ("ExternalPort", "47989"),
        ("MaxLumaPixelsHEVC", "1869449984"),
        ("mac", "00:00:00:00:00:00"),
        ("LocalIP", "192.168.1.20"),
        ("ServerCodecModeSupport", "257"),
        ("PairStatus", "0"),
        ("currentgame", "0"),
        ("state", "SUNSHINE_SERVER_FREE"),
        ("Width", "2560"),
        ("Height", "1440"),
        ("RefreshRate", "120"),
    ] {
        assert_eq!(xml_text(&xml, tag).as_deref(), Some(value), "{tag}");
    }

    let busy = ServerInfo {
        paired: true,
        current_game: NonZeroU32::new(7),
        hevc_supported: false,
        mac: Some("52:54:00:12:34:56".into()),
        ..server_info()
    }
    .to_xml();
    assert_eq!(
        xml_text(&busy, "state").as_deref(),
        Some("SUNSHINE_SERVER_BUSY")
    );
    assert_eq!(xml_text(&busy, "currentgame").as_deref(), Some("7"));
    assert_eq!(xml_text(&busy, "PairStatus").as_deref(), Some("1"));
    assert_eq!(xml_text(&busy, "MaxLumaPixelsHEVC").as_deref(), Some("0"));
    assert_eq!(xml_text(&busy, "mac").as_deref(), Some("52:54:00:12:34:56"));
}

#[test]
fn applist_lists_apps_in_order() {
    let apps = [
        App {
            id: NonZeroU32::new(1).expect("non-zero"),
            title: "Desktop".into(),
            hdr_supported: false,
        },
        App {
            id: NonZeroU32::new(2).expect("non-zero"),
            title: "Tom & Jerry".into(),
            hdr_supported: true,
        },
    ];
    let xml = applist_xml(&apps);
    assert_eq!(status_code(&xml), 200);
    assert_eq!(xml.matches("<App>").count(), 2);
    let second = &xml[xml.rfind("<App>").expect("second app")..];
    assert_eq!(xml_text(second, "AppTitle").as_deref(), Some("Tom & Jerry"));
    assert_eq!(xml_text(second, "ID").as_deref(), Some("2"));
    assert_eq!(xml_text(second, "IsHdrSupported").as_deref(), Some("1"));
}

#[test]
fn pair_answers() {
    let cert = PairAnswer::ServerCert(b"PEM".to_vec()).to_xml();
    assert_eq!(xml_text(&cert, "paired").as_deref(), Some("1"));
    assert_eq!(xml_text(&cert, "plaincert").as_deref(), Some("50454D"));
    let busy = PairAnswer::AlreadyPairing.to_xml();
    assert_eq!(xml_text(&busy, "plaincert").as_deref(), Some(""));
    assert_eq!(xml_text(&busy, "paired").as_deref(), Some("1"));
    let challenge = PairAnswer::ChallengeResponse(vec![0xab; 48]).to_xml();
    assert_eq!(
        xml_text(&challenge, "challengeresponse").map(|h| h.len()),
        Some(96)
    );
    let secret = PairAnswer::PairingSecret(vec![1, 2]).to_xml();
    assert_eq!(xml_text(&secret, "pairingsecret").as_deref(), Some("0102"));

    let not_paired = PairAnswer::from_step(&Err(PairingError::HashMismatch)).to_xml();
    assert_eq!(status_code(&not_paired), 200);
    assert_eq!(xml_text(&not_paired, "paired").as_deref(), Some("0"));
    let out_of_order = PairAnswer::from_step(&Err(PairingError::Finished)).to_xml();
    assert_eq!(status_code(&out_of_order), 400);
    assert_eq!(xml_text(&out_of_order, "paired").as_deref(), Some("0"));
    assert!(out_of_order.contains("status_message=\""));
}

#[test]
fn launch_resume_cancel_and_errors() {
    let url = session_url(true, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 48010);
    assert_eq!(url, "rtspenc://10.0.0.2:48010");
    assert_eq!(
        session_url(false, IpAddr::V6(Ipv6Addr::LOCALHOST), 48010),
        "rtsp://[::1]:48010"
    );
    assert_eq!(
        session_url(
            false,
            IpAddr::V6(Ipv4Addr::new(192, 168, 0, 9).to_ipv6_mapped()),
            1
        ),
        "rtsp://192.168.0.9:1"
    );
    let launch = launch_xml(&url, false);
    assert_eq!(
        xml_text(&launch, "sessionUrl0").as_deref(),
        Some("rtspenc://10.0.0.2:48010")
    );
    assert_eq!(xml_text(&launch, "gamesession").as_deref(), Some("1"));
    let resume = launch_xml(&url, true);
    assert_eq!(xml_text(&resume, "resume").as_deref(), Some("1"));
    assert_eq!(xml_text(&cancel_xml(), "cancel").as_deref(), Some("1"));
    assert_eq!(status_code(&ok_xml()), 200);
    let err = error_xml(503, "Failed to initialize video capture/encoding");
    assert_eq!(status_code(&err), 503);
    assert!(err.contains("status_message=\"Failed to initialize video capture/encoding\""));
    assert!(error_xml(401, "a\"b<c").contains("status_message=\"a&quot;b&lt;c\""));
}

#[test]
fn hex_accepts_both_cases_and_rejects_junk() {
    assert_eq!(decode_hex("aBcD"), Some(vec![0xab, 0xcd]));
    assert_eq!(decode_hex("abc"), None);
    assert_eq!(decode_hex("zz"), None);
    assert_eq!(decode_hex(""), Some(vec![]));
    assert_eq!(encode_hex(&[0x0f, 0xa0]), "0FA0");
}

proptest! {
    #[test]
    fn hostile_targets_never_panic(target in ".{0,300}") {
        let _ = parse_request(&target);
        let _ = parse_request(&format!("/launch?{target}"));
        let _ = parse_request(&format!("/pair?{target}"));
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Query::parse(&text);
        let _ = parse_request(&text);
    }

    #[test]
    fn query_round_trips(pairs in proptest::collection::vec(("[a-zA-Z]{1,8}", ".{0,20}"), 0..10)) {
        let query = Query::from_pairs(pairs.clone());
        let parsed = Query::parse(&query.encode()).expect("re-encoded query parses");
        prop_assert_eq!(parsed, query);
    }

    #[test]
    fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(decode_hex(&encode_hex(&bytes)), Some(bytes.clone()));
        prop_assert_eq!(decode_hex(&encode_hex(&bytes).to_lowercase()), Some(bytes));
    }

    #[test]
    fn launch_round_trips(
        app in 1u32..,
        w in 1u32..10000, h in 1u32..10000, fps in 0u32..1000,
        rikey in any::<[u8; 16]>(), rikeyid in any::<i32>(),
        local_audio in any::<bool>(), surround in any::<u32>(), gcmap in any::<u16>(),
    ) {
        let query = Query::from_pairs([
            ("uniqueid", "0123456789ABCDEF".to_string()),
            ("appid", app.to_string()),
            ("mode", format!("{w}x{h}x{fps}")),
            ("rikey", encode_hex(&rikey).to_lowercase()),
            ("rikeyid", rikeyid.to_string()),
            ("localAudioPlayMode", u8::from(local_audio).to_string()),
            ("surroundAudioInfo", surround.to_string()),
            ("gcmap", gcmap.to_string()),
        ]);
        let Ok(Request::Launch(launch)) = parse_request(&format!("/launch?{}", query.encode())) else {
            return Err(TestCaseError::fail("launch did not parse"));
        };
        prop_assert_eq!(launch.app_id, Some(app));
        prop_assert_eq!(launch.mode, Some(DisplayMode { width: w, height: h, fps }));
        prop_assert_eq!(launch.rikey, rikey);
        prop_assert_eq!(launch.rikeyid, rikeyid);
        prop_assert_eq!(launch.local_audio_play_mode, local_audio);
        prop_assert_eq!(launch.surround_audio_info.to_wire(), surround);
        prop_assert_eq!(launch.gcmap, u32::from(gcmap));
    }

    #[test]
    fn escaped_text_survives_the_document(name in ".{0,40}") {
        let info = ServerInfo { hostname: name.clone(), ..server_info() };
        let xml = info.to_xml();
        let expected: String = name
            .chars()
            .filter(|&c| (c as u32 >= 0x20 || matches!(c, '\t' | '\n' | '\r')) && c != '\u{FFFE}' && c != '\u{FFFF}')
            .collect();
        prop_assert_eq!(xml_text(&xml, "hostname"), Some(expected));
        // Nothing in the escaped name can open or close an element.
        let escaped = xml_escape(&name);
        prop_assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'));
    }
}
