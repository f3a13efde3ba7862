use super::*;
use proptest::prelude::*;

/// An ANNOUNCE body in the exact order and spelling of moonlight-common-c's SdpGenerator for a
/// Sunshine-compatible host (7.1.431): 1920×1080@60, HEVC Main10, 5.1 surround, encryption 0x05.
const MOONLIGHT_ANNOUNCE: &str = "v=0\r\n\
o=android 0 14 IN IPv4 10.0.0.2\r\n\
s=NVIDIA Streaming Client\r\n\
a=x-ml-general.featureFlags:3 \r\n\
a=x-ss-general.encryptionEnabled:5 \r\n\
a=x-ss-video[0].chromaSamplingType:0 \r\n\
a=x-nv-video[0].clientViewportWd:1920 \r\n\
a=x-nv-video[0].clientViewportHt:1080 \r\n\
a=x-nv-video[0].maxFPS:60 \r\n\
a=x-nv-video[0].packetSize:1392 \r\n\
a=x-nv-video[0].rateControlMode:4 \r\n\
a=x-nv-video[0].timeoutLengthMs:7000 \r\n\
a=x-nv-video[0].framesWithInvalidRefThreshold:0 \r\n\
a=x-nv-video[0].initialBitrateKbps:16000 \r\n\
a=x-nv-video[0].initialPeakBitrateKbps:16000 \r\n\
a=x-nv-vqos[0].bw.minimumBitrateKbps:16000 \r\n\
a=x-nv-vqos[0].bw.maximumBitrateKbps:16000 \r\n\
a=x-ml-video.configuredBitrateKbps:20000 \r\n\
a=x-nv-vqos[0].fec.enable:1 \r\n\
a=x-nv-vqos[0].videoQualityScoreUpdateTime:5000 \r\n\
a=x-nv-vqos[0].qosTrafficType:5 \r\n\
a=x-nv-aqos.qosTrafficType:4 \r\n\
a=x-nv-general.featureFlags:167 \r\n\
a=x-nv-general.useReliableUdp:13 \r\n\
a=x-nv-vqos[0].fec.minRequiredFecPackets:2 \r\n\
a=x-nv-vqos[0].bllFec.enable:0 \r\n\
a=x-nv-vqos[0].drc.enable:0 \r\n\
a=x-nv-general.enableRecoveryMode:0 \r\n\
a=x-nv-video[0].videoEncoderSlicesPerFrame:1 \r\n\
a=x-nv-clientSupportHevc:1 \r\n\
a=x-nv-vqos[0].bitStreamFormat:1 \r\n\
a=x-nv-video[0].dynamicRangeMode:1 \r\n\
a=x-nv-video[0].maxNumReferenceFrames:0 \r\n\
a=x-nv-video[0].clientRefreshRateX100:5994 \r\n\
a=x-nv-audio.surround.numChannels:6 \r\n\
a=x-nv-audio.surround.channelMask:1599 \r\n\
a=x-nv-audio.surround.enable:1 \r\n\
a=x-nv-audio.surround.AudioQuality:0 \r\n\
a=x-nv-aqos.packetDuration:5 \r\n\
a=x-nv-video[0].encoderCscMode:5 \r\n\
t=0 0\r\n\
m=video 47998  \r\n";

fn caps() -> HostCapabilities {
    HostCapabilities {
        h264: CodecCaps {
            supported: true,
            main10: false,
            yuv444: true,
            yuv444_ten_bit: false,
        },
        hevc: CodecCaps {
            supported: true,
            main10: true,
            yuv444: false,
            yuv444_ten_bit: false,
        },
        av1: CodecCaps::default(),
        max_audio_channels: 8,
        video_encryption: true,
        require_encryption: false,
        reference_frame_invalidation: false,
        feature_flags: SS_FF_PEN_TOUCH,
    }
}

#[test]
fn parses_moonlight_announce() {
    let p = StreamParams::from_announce(MOONLIGHT_ANNOUNCE.as_bytes()).expect("parses");
    assert_eq!((p.width, p.height, p.fps), (1920, 1080, 60));
    assert_eq!(p.refresh_rate_x100, Some(5994));
    assert_eq!(p.packet_size, 1392);
    assert_eq!(p.max_bitrate_kbps, 16000);
    assert_eq!(p.configured_bitrate_kbps, Some(20000));
    assert_eq!(p.codec, VideoCodec::Hevc);
    assert!(p.hdr && !p.yuv444);
    assert_eq!((p.colorspace, p.full_range), (Colorspace::Rec2020, true));
    assert_eq!((p.slices_per_frame, p.max_reference_frames), (1, 0));
    assert_eq!(p.min_required_fec_packets, 2);
    assert_eq!(
        p.audio,
        AudioParams {
            channels: 6,
            channel_mask: 1599,
            high_quality: false,
            packet_duration_ms: 5
        }
    );
    assert_eq!(p.encryption, ENC_CONTROL_V2 | ENC_AUDIO);
    assert_eq!(p.ml_feature_flags, ML_FF_FEC_STATUS | ML_FF_SESSION_ID_V1);
    assert_eq!(p.control_protocol, 13);
    assert_eq!(caps().check(&p), Ok(()));
}

#[test]
fn old_style_audio_encryption_flag_counts() {
    let body = MOONLIGHT_ANNOUNCE.replace("encryptionEnabled:5", "encryptionEnabled:1");
    assert_eq!(
        StreamParams::from_announce(body.as_bytes())
            .expect("parses")
            .encryption,
        5
    );
    let body = body.replace("featureFlags:167", "featureFlags:135");
    assert_eq!(
        StreamParams::from_announce(body.as_bytes())
            .expect("parses")
            .encryption,
        1
    );
}

#[test]
fn binary_and_odd_lines_do_not_disturb_parsing() {
    // Gen-3 clients sent some attributes as raw big-endian words; LF-only lines occur too.
    let mut body = b"a=x-nv-general.featureFlags\xff:\x42\x77\x41\x41 \r\na=x-nv-video[1].rateControlMode:\x42\x51\x41\x41\n".to_vec();
    body.extend_from_slice(b"garbage without equals\r\na=no-colon\r\n");
    body.extend_from_slice(MOONLIGHT_ANNOUNCE.as_bytes());
    let p = StreamParams::from_announce(&body).expect("parses");
    assert_eq!(p.width, 1920);
    let attrs = Attributes::parse(&body).expect("attributes");
    assert_eq!(
        attrs.get("x-nv-video[1].rateControlMode"),
        Some(&b"\x42\x51\x41\x41"[..])
    );
}

#[test]
fn first_occurrence_wins() {
    let body = format!("a=x-nv-video[0].clientViewportWd:1280 \r\n{MOONLIGHT_ANNOUNCE}");
    assert_eq!(
        StreamParams::from_announce(body.as_bytes())
            .expect("parses")
            .width,
        1280
    );
}

#[test]
fn missing_and_invalid_attributes_are_named() {
    for name in [
        "x-nv-video[0].clientViewportWd",
        "x-nv-video[0].packetSize",
        "x-nv-vqos[0].bw.maximumBitrateKbps",
        "x-nv-audio.surround.numChannels",
        "x-nv-video[0].maxNumReferenceFrames",
    ] {
        let body: String = MOONLIGHT_ANNOUNCE
            .lines()
            .filter(|l| !l.starts_with(&format!("a={name}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            StreamParams::from_announce(body.as_bytes()),
            Err(SdpError::Missing(match name {
                "x-nv-video[0].clientViewportWd" => names::WIDTH,
                "x-nv-video[0].packetSize" => names::PACKET_SIZE,
                "x-nv-vqos[0].bw.maximumBitrateKbps" => names::MAX_BITRATE,
                "x-nv-audio.surround.numChannels" => names::CHANNELS,
                _ => names::REF_FRAMES,
            }))
        );
    }
    for (from, to, name) in [
        ("bitStreamFormat:1", "bitStreamFormat:3", names::CODEC),
        ("numChannels:6", "numChannels:4", names::CHANNELS),
        (
            "packetDuration:5",
            "packetDuration:20",
            names::PACKET_DURATION,
        ),
        ("encoderCscMode:5", "encoderCscMode:6", names::CSC),
        ("maxFPS:60", "maxFPS:0", names::FPS),
        ("maxFPS:60", "maxFPS:-60", names::FPS),
        ("maxFPS:60", "maxFPS:0x3c", names::FPS),
        (
            "clientViewportWd:1920",
            "clientViewportWd:99999999999",
            names::WIDTH,
        ),
        ("packetSize:1392", "packetSize:16", names::PACKET_SIZE),
        (
            "dynamicRangeMode:1",
            "dynamicRangeMode:2",
            names::DYNAMIC_RANGE,
        ),
        ("SlicesPerFrame:1", "SlicesPerFrame:256", names::SLICES),
    ] {
        let body = MOONLIGHT_ANNOUNCE.replace(from, to);
        assert!(
            matches!(StreamParams::from_announce(body.as_bytes()), Err(SdpError::Invalid { name: n, .. }) if n == name),
            "{to}"
        );
    }
    assert_eq!(
        StreamParams::from_announce(&vec![b'a'; MAX_BODY + 1]),
        Err(SdpError::TooLarge)
    );
}

/// Moonlight's `parseSdpAttributeToUInt`: find the name, then the next ':', read digits.
fn client_uint(body: &str, name: &str) -> Option<u32> {
    let at = body.find(name)?;
    let colon = at + body[at..].find(':')?;
    let digits: String = body[colon + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn describe_advertises_only_what_the_host_honours() {
    let body = caps().describe_body();
    assert_eq!(
        client_uint(&body, "x-ss-general.featureFlags"),
        Some(SS_FF_PEN_TOUCH)
    );
    assert_eq!(
        client_uint(&body, "x-ss-general.encryptionSupported"),
        Some(0x07)
    );
    // Requested as well as supported: clients encrypt whatever they can.
    assert_eq!(
        client_uint(&body, "x-ss-general.encryptionRequested"),
        Some(0x07)
    );
    assert!(body.contains("sprop-parameter-sets=AAAAAU"));
    assert!(!body.contains("AV1/90000"));
    assert!(!body.contains("x-nv-video[0].refPicInvalidation"));

    let minimal = HostCapabilities {
        hevc: CodecCaps::default(),
        av1: CodecCaps {
            supported: true,
            ..CodecCaps::default()
        },
        video_encryption: false,
        require_encryption: true,
        reference_frame_invalidation: true,
        max_audio_channels: 2,
        ..caps()
    };
    let body = minimal.describe_body();
    assert!(!body.contains("sprop-parameter-sets=AAAAAU"));
    assert!(body.contains("a=rtpmap:98 AV1/90000"));
    assert!(body.contains("a=x-nv-video[0].refPicInvalidation:1"));
    assert_eq!(
        client_uint(&body, "x-ss-general.encryptionSupported"),
        Some(0x05)
    );
    assert_eq!(
        client_uint(&body, "x-ss-general.encryptionRequested"),
        Some(0x07)
    );
    assert!(!body.contains("surround-params=6") && !body.contains("surround-params=8"));
}

/// Moonlight's `parseOpusConfigurations`: first match normal quality, second high quality; the
/// normal 5.1/7.1 mapping gets its last entry moved to index 3.
fn client_opus(body: &str, channels: u8) -> (Vec<u8>, Option<Vec<u8>>) {
    let prefix = format!("a=fmtp:97 surround-params={channels}");
    let parse = |at: usize| -> Vec<u8> {
        body[at + prefix.len()..]
            .bytes()
            .take(2 + usize::from(channels))
            .map(|b| b - b'0')
            .collect()
    };
    let first = body.find(&prefix).expect("normal-quality layout");
    let mut normal = parse(first);
    if channels == 6 || channels == 8 {
        let n = usize::from(channels);
        let original = normal.clone();
        normal[2 + 3] = original[2 + n - 1];
        normal[2 + 4..2 + n].copy_from_slice(&original[2 + 3..2 + n - 1]);
    }
    let rest = first + prefix.len();
    let high = body[rest..].find(&prefix).map(|at| parse(rest + at));
    (normal, high)
}

#[test]
fn clients_end_up_with_the_encoder_layouts() {
    let body = caps().describe_body();
    for channels in [2u8, 6, 8] {
        let (normal, high) = client_opus(&body, channels);
        for (seen, high_quality) in [(Some(normal), false), (high, true)] {
            let layout = OpusLayout::for_channels(channels, high_quality).expect("layout");
            let mut expected = vec![layout.streams, layout.coupled_streams];
            expected.extend_from_slice(layout.mapping());
            assert_eq!(
                seen,
                Some(expected),
                "{channels} channels, high quality {high_quality}"
            );
        }
    }
    assert_eq!(
        OpusLayout::for_channels(2, false)
            .expect("stereo")
            .surround_params(),
        "21101"
    );
    assert_eq!(
        OpusLayout::for_channels(6, true)
            .expect("5.1")
            .surround_params(),
        "660012345"
    );
    assert_eq!(
        OpusLayout::for_channels(6, false)
            .expect("5.1")
            .surround_params(),
        "642014235"
    );
    assert_eq!(
        OpusLayout::for_channels(8, false)
            .expect("7.1")
            .surround_params(),
        "85301623457"
    );
    assert_eq!(OpusLayout::for_channels(4, false), None);
    // Normal quality is the split of the host's own Opus layouts (coupled pairs, mono centre and
    // LFE), so one encoder configuration serves punktfunk/1 and GameStream.
    for channels in [2u8, 6, 8] {
        let layout = OpusLayout::for_channels(channels, false).expect("layout");
        let own = crate::audio::layout::Layout::from_channels(channels).expect("layout");
        assert_eq!(
            layout.multistream(),
            own.multistream(),
            "{channels} channels"
        );
    }
}

#[test]
fn codec_mode_bits() {
    use codec_mode::*;
    assert_eq!(
        caps().codec_mode_support(),
        H264 | H264_444 | HEVC | HEVC_MAIN10
    );
    let all = CodecCaps {
        supported: true,
        main10: true,
        yuv444: true,
        yuv444_ten_bit: true,
    };
    let full = HostCapabilities {
        h264: all,
        hevc: all,
        av1: all,
        ..caps()
    };
    assert_eq!(full.codec_mode_support(), 0x7f0301);
    let h264_only = HostCapabilities {
        h264: CodecCaps {
            supported: true,
            ..CodecCaps::default()
        },
        hevc: CodecCaps::default(),
        av1: CodecCaps::default(),
        ..caps()
    };
    assert_eq!(h264_only.codec_mode_support(), H264);
    // 10-bit 4:2:0 and 8-bit 4:4:4 do not make 10-bit 4:4:4.
    let both_apart = CodecCaps {
        yuv444_ten_bit: false,
        ..all
    };
    let apart = HostCapabilities {
        hevc: both_apart,
        ..caps()
    };
    assert_eq!(
        apart.codec_mode_support() & (HEVC_MAIN10 | HEVC_444 | HEVC_444_10),
        HEVC_MAIN10 | HEVC_444
    );
    let base = StreamParams::from_announce(MOONLIGHT_ANNOUNCE.as_bytes()).expect("parses");
    let hevc_444_10 = StreamParams {
        codec: VideoCodec::Hevc,
        hdr: true,
        yuv444: true,
        ..base
    };
    assert_eq!(
        apart.check(&hevc_444_10),
        Err(Unsupported::Yuv444TenBit(VideoCodec::Hevc))
    );
    assert_eq!(full.check(&hevc_444_10), Ok(()));
}

#[test]
fn check_refuses_what_the_host_cannot_do() {
    let base = StreamParams::from_announce(MOONLIGHT_ANNOUNCE.as_bytes()).expect("parses");
    let host = caps();
    let av1 = StreamParams {
        codec: VideoCodec::Av1,
        hdr: false,
        ..base.clone()
    };
    assert_eq!(host.check(&av1), Err(Unsupported::Codec(VideoCodec::Av1)));
    let h264_hdr = StreamParams {
        codec: VideoCodec::H264,
        ..base.clone()
    };
    assert_eq!(
        host.check(&h264_hdr),
        Err(Unsupported::TenBit(VideoCodec::H264))
    );
    let hevc_444 = StreamParams {
        yuv444: true,
        ..base.clone()
    };
    assert_eq!(
        host.check(&hevc_444),
        Err(Unsupported::Yuv444(VideoCodec::Hevc))
    );
    let stereo_host = HostCapabilities {
        max_audio_channels: 2,
        ..host.clone()
    };
    assert_eq!(stereo_host.check(&base), Err(Unsupported::AudioChannels(6)));
    let encrypted_video = StreamParams {
        encryption: ENC_CONTROL_V2 | ENC_VIDEO,
        ..base.clone()
    };
    let no_video_encryption = HostCapabilities {
        video_encryption: false,
        ..host.clone()
    };
    assert_eq!(
        no_video_encryption.check(&encrypted_video),
        Err(Unsupported::VideoEncryption)
    );
    let strict = HostCapabilities {
        require_encryption: true,
        ..host
    };
    assert_eq!(
        strict.check(&base),
        Err(Unsupported::EncryptionRequired {
            required: ENC_VIDEO | ENC_AUDIO,
            enabled: ENC_CONTROL_V2 | ENC_AUDIO
        })
    );
}

#[test]
fn stereo_quality_follows_the_host_header() {
    let stereo = AudioParams {
        channels: 2,
        channel_mask: 3,
        high_quality: false,
        packet_duration_ms: 5,
    };
    assert!(stereo.high_quality_with_host(Some("10.0.0.2")));
    assert!(!stereo.high_quality_with_host(Some("0.0.0.0")));
    assert!(!stereo.high_quality_with_host(None));
    assert_eq!(
        stereo.layout(Some("10.0.0.2")).map(|l| l.bitrate),
        Some(512_000)
    );
    let surround = AudioParams {
        channels: 6,
        ..stereo
    };
    assert!(!surround.high_quality_with_host(Some("10.0.0.2")));
}

fn stream_params() -> impl Strategy<Value = StreamParams> {
    (
        (
            1u32..=16_384,
            1u32..=16_384,
            1u32..=1_000,
            proptest::option::of(1u32..100_000),
        ),
        (
            128u32..=65_000,
            1u32..,
            proptest::option::of(1u32..),
            0u8..3,
            any::<bool>(),
            any::<bool>(),
        ),
        (
            0u32..3,
            any::<bool>(),
            any::<u8>(),
            any::<u32>(),
            any::<bool>(),
            any::<u8>(),
        ),
        (
            prop_oneof![Just(2u8), Just(6), Just(8)],
            any::<u32>(),
            any::<bool>(),
            prop_oneof![Just(5u8), Just(10)],
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
    )
        .prop_map(|(v, q, c, a, f)| {
            let (width, height, fps, refresh_rate_x100) = v;
            let (packet_size, max_bitrate_kbps, configured_bitrate_kbps, codec, hdr, yuv444) = q;
            let (cs, full_range, slices_per_frame, max_reference_frames, intra_refresh, min_fec) =
                c;
            let (channels, channel_mask, high_quality, packet_duration_ms) = a;
            let (mut encryption, nv_feature_flags, ml_feature_flags, control_protocol, vq, aq) = f;
            if nv_feature_flags & NV_FF_AUDIO_ENCRYPTION != 0 {
                encryption |= ENC_AUDIO;
            }
            StreamParams {
                width,
                height,
                fps,
                refresh_rate_x100,
                packet_size,
                max_bitrate_kbps,
                configured_bitrate_kbps,
                codec: [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1][usize::from(codec)],
                hdr,
                yuv444,
                colorspace: [Colorspace::Rec601, Colorspace::Rec709, Colorspace::Rec2020]
                    [cs as usize],
                full_range,
                slices_per_frame,
                max_reference_frames,
                intra_refresh,
                min_required_fec_packets: min_fec,
                audio: AudioParams {
                    channels,
                    channel_mask,
                    high_quality,
                    packet_duration_ms,
                },
                encryption,
                nv_feature_flags,
                ml_feature_flags,
                control_protocol,
                video_qos_type: vq,
                audio_qos_type: aq,
            }
        })
}

proptest! {
    #[test]
    fn hostile_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = StreamParams::from_announce(&body);
    }

    #[test]
    fn mutated_announces_never_panic(at in 0usize..4000, bytes in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut body = MOONLIGHT_ANNOUNCE.as_bytes().to_vec();
        let at = at % body.len();
        body.splice(at..at, bytes);
        let _ = StreamParams::from_announce(&body);
    }

    #[test]
    fn announce_round_trips(params in stream_params()) {
        let body = params.to_announce();
        prop_assert_eq!(StreamParams::from_announce(body.as_bytes()), Ok(params));
    }
}
