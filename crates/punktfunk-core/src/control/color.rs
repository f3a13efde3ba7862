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
    /// 10-bit 4:4:4 (HEVC RExt Main 4:4:4 10, AV1 High 10-bit).
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

/// HDR10 static metadata: the mastering display's colour volume (SMPTE ST 2086) and the content's
/// light levels (CTA-861.3), in the units both HEVC's SEI and the punktfunk/1 Welcome carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HdrMetadata {
    /// Display primaries R, G, B as (x, y) in units of 0.00002.
    pub primaries: [(u16, u16); 3],
    /// White point (x, y) in units of 0.00002.
    pub white_point: (u16, u16),
    /// Max mastering luminance in units of 0.0001 cd/m².
    pub max_luminance: u32,
    /// Min mastering luminance in units of 0.0001 cd/m².
    pub min_luminance: u32,
    /// MaxCLL: the brightest pixel of the content, in cd/m².
    pub max_cll: u16,
    /// MaxFALL: the brightest frame's average light level, in cd/m².
    pub max_fall: u16,
}

impl HdrMetadata {
    /// Length of [`HdrMetadata::to_bytes`].
    pub const LEN: usize = 28;

    /// Little-endian: R, G, B, white (x, y) as LE16 pairs, max and min luminance as LE32, MaxCLL and
    /// MaxFALL as LE16.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let points = self.primaries.iter().chain([&self.white_point]);
        for (i, (x, y)) in points.enumerate() {
            out[i * 4..i * 4 + 2].copy_from_slice(&x.to_le_bytes());
            out[i * 4 + 2..i * 4 + 4].copy_from_slice(&y.to_le_bytes());
        }
        out[16..20].copy_from_slice(&self.max_luminance.to_le_bytes());
        out[20..24].copy_from_slice(&self.min_luminance.to_le_bytes());
        out[24..26].copy_from_slice(&self.max_cll.to_le_bytes());
        out[26..28].copy_from_slice(&self.max_fall.to_le_bytes());
        out
    }

    /// The inverse of [`HdrMetadata::to_bytes`].
    pub fn from_bytes(b: &[u8; Self::LEN]) -> HdrMetadata {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let pair = |i: usize| (u16_at(i), u16_at(i + 2));
        HdrMetadata {
            primaries: [pair(0), pair(4), pair(8)],
            white_point: pair(12),
            max_luminance: u32_at(16),
            min_luminance: u32_at(20),
            max_cll: u16_at(24),
            max_fall: u16_at(26),
        }
    }
}

/// The colour format chosen for a session, and why (for the host's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorChoice {
    /// One of [`format`].
    pub format: u8,
    /// Why, in words for the host's log.
    pub reason: &'static str,
}

/// The format for a stream in `codec` to a client with Hello `caps`: the richest the client decodes
/// and the codec carries.
pub fn choose(codec: Codec, client_caps: u32) -> ColorChoice {
    candidates(codec, client_caps)[0]
}

/// The formats to try for a stream in `codec` to a client with Hello `caps`, best first, ending
/// with 8-bit 4:2:0 (which every encoder opens). When 10-bit 4:4:4 does not open, 4:4:4 comes
/// before 10-bit: on a desktop full colour resolution (text, thin lines) matters more than the
/// extra depth of an 8-bit SDR source.
pub fn candidates(codec: Codec, client_caps: u32) -> Vec<ColorChoice> {
    let wants_444 = client_caps & caps::YUV444 != 0;
    let wants_10 = client_caps & caps::TEN_BIT != 0;
    let carries_444 = matches!(codec, Codec::Hevc | Codec::H264 | Codec::Av1);
    // H.264 High 10 exists, but hardly any decoder takes it: 10-bit goes with HEVC and AV1 only.
    let carries_10 = matches!(codec, Codec::Hevc | Codec::Av1);
    let choice = |format, reason| ColorChoice { format, reason };
    let mut list = Vec::with_capacity(4);
    let (can_444, can_10) = (wants_444 && carries_444, wants_10 && carries_10);
    if can_444 && can_10 {
        list.push(choice(
            format::YUV444_10,
            "the client decodes 4:4:4 and 10-bit",
        ));
    }
    if can_444 {
        list.push(choice(
            format::YUV444_8,
            if can_10 {
                "the client decodes 4:4:4 and 10-bit; no encoder here opens 10-bit 4:4:4"
            } else {
                "the client decodes 4:4:4"
            },
        ));
    }
    if can_10 {
        list.push(choice(format::YUV420_10, "the client decodes 10-bit"));
    }
    list.push(choice(
        format::YUV420_8,
        match (list.is_empty(), wants_444 || wants_10) {
            (true, true) => {
                "the client asked for more than 8-bit 4:2:0, which this codec does not carry here"
            }
            (true, false) => "the client asked for 8-bit 4:2:0",
            (false, _) => "no encoder here opens the format the client asked for",
        },
    ));
    list
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
            format::YUV444_10
        );
        assert_eq!(
            choose(Codec::H264, caps::TEN_BIT | caps::YUV444).format,
            format::YUV444_8,
            "no 10-bit H.264"
        );
        assert_eq!(
            choose(Codec::RawTest, caps::YUV444).format,
            format::YUV420_8
        );
        assert_eq!(choose(Codec::Hevc, caps::AUDIO).format, format::YUV420_8);
    }

    #[test]
    fn four_four_four_is_kept_before_ten_bit_when_both_do_not_open() {
        let order: Vec<u8> = candidates(Codec::Hevc, caps::TEN_BIT | caps::YUV444)
            .iter()
            .map(|c| c.format)
            .collect();
        assert_eq!(
            order,
            [
                format::YUV444_10,
                format::YUV444_8,
                format::YUV420_10,
                format::YUV420_8
            ]
        );
    }

    proptest! {
        #[test]
        fn hdr_metadata_round_trips(words in any::<[u16; 10]>(), lum in any::<[u32; 2]>()) {
            let m = HdrMetadata {
                primaries: [(words[0], words[1]), (words[2], words[3]), (words[4], words[5])],
                white_point: (words[6], words[7]),
                max_luminance: lum[0],
                min_luminance: lum[1],
                max_cll: words[8],
                max_fall: words[9],
            };
            prop_assert_eq!(HdrMetadata::from_bytes(&m.to_bytes()), m);
        }

        #[test]
        fn never_more_than_the_client_decodes(caps_bits in any::<u32>(), codec in 0u8..4) {
            let codec = Codec::from_u8(codec).unwrap();
            let list = candidates(codec, caps_bits);
            prop_assert_eq!(list.last().map(|c| c.format), Some(format::YUV420_8));
            for chosen in list.iter().map(|c| c.format) {
                if matches!(chosen, format::YUV444_8 | format::YUV444_10) {
                    prop_assert!(caps_bits & caps::YUV444 != 0);
                }
                if matches!(chosen, format::YUV420_10 | format::YUV444_10) {
                    prop_assert!(caps_bits & caps::TEN_BIT != 0);
                }
            }
            let mut formats: Vec<u8> = list.iter().map(|c| c.format).collect();
            formats.dedup();
            prop_assert_eq!(formats.len(), list.len(), "each format once");
        }
    }
}
