//! Which colour format a punktfunk/1 session streams, decided from what the client can decode
//! ([`super::caps`] in its Hello) and what the session's codec can carry, and how the stream's colours
//! are described to the client (ITU-T H.273 code points, as the bitstream itself signals them).

use super::messages::{Codec, caps};

/// `Welcome::color_format` values.
pub mod format {
    /// 8-bit 4:2:0, the format every decoder takes.
    pub const YUV420_8: u8 = 0;
    /// 10-bit 4:2:0 (HEVC Main10, AV1 Main 10-bit): no banding in dark gradients.
    pub const YUV420_10: u8 = 1;
    /// 8-bit 4:4:4 (HEVC RExt, H.264 High 4:4:4, AV1 High): full-resolution colour, sharp text.
    pub const YUV444_8: u8 = 2;
    /// 10-bit 4:4:4 (not produced by this host yet).
    pub const YUV444_10: u8 = 3;
}

/// H.273 colour primaries, transfer characteristics and matrix coefficients of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorDescription {
    /// 1 = BT.709, 9 = BT.2020.
    pub primaries: u8,
    /// 1 = BT.709, 16 = SMPTE ST 2084 (PQ), 18 = HLG.
    pub transfer: u8,
    /// 1 = BT.709, 9 = BT.2020 non-constant luminance.
    pub matrix: u8,
    /// Full range (0–255) rather than limited (16–235).
    pub full_range: bool,
}

impl ColorDescription {
    /// SDR BT.709, limited range: what the host's 8-bit desktop captures are encoded as.
    pub const BT709: ColorDescription = ColorDescription {
        primaries: 1,
        transfer: 1,
        matrix: 1,
        full_range: false,
    };
    /// HDR10: BT.2020 primaries and matrix with the PQ transfer, limited range.
    pub const BT2020_PQ: ColorDescription = ColorDescription {
        primaries: 9,
        transfer: 16,
        matrix: 9,
        full_range: false,
    };
}

/// The colour format chosen for a session, and why (for the host's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorChoice {
    /// One of [`format`].
    pub format: u8,
    /// Why, in words for the host's log.
    pub reason: &'static str,
}

/// The format for a stream in `codec` to a client with Hello `caps`. 4:4:4 wins over 10-bit when a
/// client asks for both: this host does not produce 10-bit 4:4:4, and on a desktop full colour
/// resolution (text, thin lines) matters more than the extra depth of an 8-bit SDR source.
pub fn choose(codec: Codec, client_caps: u32) -> ColorChoice {
    let wants_444 = client_caps & caps::YUV444 != 0;
    let wants_10 = client_caps & caps::TEN_BIT != 0;
    let carries_444 = matches!(codec, Codec::Hevc | Codec::H264 | Codec::Av1);
    let carries_10 = matches!(codec, Codec::Hevc | Codec::Av1);
    let choice = |format, reason| ColorChoice { format, reason };
    match (wants_444, wants_10) {
        (true, true) if carries_444 => choice(
            format::YUV444_8,
            "the client decodes 4:4:4 and 10-bit; 10-bit 4:4:4 is not offered, 4:4:4 keeps text sharp",
        ),
        (true, false) if carries_444 => choice(format::YUV444_8, "the client decodes 4:4:4"),
        (_, true) if carries_10 => choice(format::YUV420_10, "the client decodes 10-bit"),
        (true, _) | (_, true) => choice(
            format::YUV420_8,
            "the client asked for more than 8-bit 4:2:0, which this codec does not carry here",
        ),
        (false, false) => choice(format::YUV420_8, "the client asked for 8-bit 4:2:0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_client_gets_what_it_asks_for_where_the_codec_carries_it() {
        assert_eq!(choose(Codec::Hevc, caps::YUV444).format, format::YUV444_8);
        assert_eq!(choose(Codec::H264, caps::YUV444).format, format::YUV444_8);
        assert_eq!(choose(Codec::Hevc, caps::TEN_BIT).format, format::YUV420_10);
        assert_eq!(choose(Codec::Av1, caps::TEN_BIT).format, format::YUV420_10);
        assert_eq!(
            choose(Codec::H264, caps::TEN_BIT).format,
            format::YUV420_8,
            "no 10-bit H.264"
        );
        assert_eq!(
            choose(Codec::Hevc, caps::TEN_BIT | caps::YUV444).format,
            format::YUV444_8
        );
        assert_eq!(
            choose(Codec::RawTest, caps::YUV444).format,
            format::YUV420_8
        );
        assert_eq!(choose(Codec::Hevc, caps::AUDIO).format, format::YUV420_8);
    }

    proptest! {
        #[test]
        fn never_more_than_the_client_decodes(caps_bits in any::<u32>(), codec in 0u8..4) {
            let codec = Codec::from_u8(codec).unwrap();
            let chosen = choose(codec, caps_bits).format;
            prop_assert!(chosen != format::YUV444_10);
            if chosen == format::YUV444_8 {
                prop_assert!(caps_bits & caps::YUV444 != 0);
            }
            if chosen == format::YUV420_10 {
                prop_assert!(caps_bits & caps::TEN_BIT != 0);
            }
        }
    }
}
