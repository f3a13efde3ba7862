//! Bitstream helpers: Annex-B NAL unit scanning, SEI payload listing, HDR10 SEI (mastering display
//! colour volume, payload 137; content light level, payload 144) for backends whose FFmpeg 5.1 wrapper
//! does not write it (NVENC, VAAPI — software backends write it themselves from their parameter
//! strings), and AV1 OBU listing.

use crate::{HdrMetadata, VideoCodec};

/// One NAL unit inside an Annex-B buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalSpan {
    /// Offset of the start code (`00 00 01` or `00 00 00 01`).
    pub start_code: usize,
    /// Offset of the NAL header.
    pub header: usize,
    /// One past the last byte (trailing zero bytes excluded).
    pub end: usize,
}

/// Finds the NAL units of an Annex-B buffer.
pub fn nal_spans(data: &[u8]) -> Vec<NalSpan> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let start_code = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((start_code, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut spans = Vec::with_capacity(starts.len());
    for (k, &(start_code, header)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |next| next.0);
        while end > header && data[end - 1] == 0 {
            end -= 1;
        }
        spans.push(NalSpan {
            start_code,
            header,
            end,
        });
    }
    spans
}

/// The NAL unit type (H.264: 5 bits; HEVC: 6 bits). `None` for AV1 or an empty NAL.
pub fn nal_type(codec: VideoCodec, nal: &[u8]) -> Option<u8> {
    let first = *nal.first()?;
    match codec {
        VideoCodec::H264 => Some(first & 0x1f),
        VideoCodec::Hevc => Some((first >> 1) & 0x3f),
        VideoCodec::Av1 => None,
    }
}

fn is_vcl(codec: VideoCodec, nal_type: u8) -> bool {
    match codec {
        VideoCodec::H264 => (1..=5).contains(&nal_type),
        VideoCodec::Hevc => nal_type <= 31,
        VideoCodec::Av1 => false,
    }
}

fn is_sei(codec: VideoCodec, nal_type: u8) -> bool {
    match codec {
        VideoCodec::H264 => nal_type == 6,
        // Prefix and suffix SEI.
        VideoCodec::Hevc => nal_type == 39 || nal_type == 40,
        VideoCodec::Av1 => false,
    }
}

/// NAL unit types in order of appearance.
pub fn nal_types(codec: VideoCodec, au: &[u8]) -> Vec<u8> {
    nal_spans(au)
        .iter()
        .filter_map(|s| nal_type(codec, &au[s.header..s.end]))
        .collect()
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
pub fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes so no `00 00 0x` (x ≤ 3) appears.
pub fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// `(payload_type, payload)` of every SEI message in an access unit.
pub fn sei_messages(codec: VideoCodec, au: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let header_len = if codec == VideoCodec::Hevc { 2 } else { 1 };
    let mut out = Vec::new();
    for span in nal_spans(au) {
        let nal = &au[span.header..span.end];
        if !nal_type(codec, nal).is_some_and(|t| is_sei(codec, t)) || nal.len() <= header_len {
            continue;
        }
        let rbsp = unescape(&nal[header_len..]);
        let mut pos = 0;
        // Each message: type and size as runs of 0xFF plus a final byte; stop at the trailing bits.
        while pos < rbsp.len() && !(rbsp.len() - pos == 1 && rbsp[pos] == 0x80) {
            let Some((kind, after_type)) = read_sei_number(&rbsp, pos) else {
                break;
            };
            let Some((size, after_size)) = read_sei_number(&rbsp, after_type) else {
                break;
            };
            let end = after_size + size as usize;
            if end > rbsp.len() {
                break;
            }
            out.push((kind, rbsp[after_size..end].to_vec()));
            pos = end;
        }
    }
    out
}

fn read_sei_number(data: &[u8], mut pos: usize) -> Option<(u32, usize)> {
    let mut value = 0u32;
    loop {
        let b = *data.get(pos)?;
        pos += 1;
        value = value.checked_add(u32::from(b))?;
        if b != 0xff {
            return Some((value, pos));
        }
    }
}

/// SEI payload type of the mastering display colour volume.
pub const SEI_MASTERING_DISPLAY: u32 = 137;
/// SEI payload type of the content light level information.
pub const SEI_CONTENT_LIGHT_LEVEL: u32 = 144;

/// A complete SEI NAL (with a 4-byte start code) carrying the mastering display and content light level
/// messages. `None` for AV1, whose metadata OBUs are the encoder's business.
pub fn hdr_sei_nal(codec: VideoCodec, hdr: &HdrMetadata) -> Option<Vec<u8>> {
    let header: &[u8] = match codec {
        VideoCodec::H264 => &[0x06],
        // forbidden_zero 0, nal_unit_type 39 (prefix SEI), nuh_layer_id 0, temporal_id_plus1 1.
        VideoCodec::Hevc => &[39 << 1, 0x01],
        VideoCodec::Av1 => return None,
    };
    let mut rbsp = Vec::with_capacity(40);
    // Mastering display: primaries in G, B, R order, then white point, then max / min luminance.
    let [r, g, b] = hdr.primaries;
    rbsp.extend_from_slice(&[SEI_MASTERING_DISPLAY as u8, 24]);
    for (x, y) in [g, b, r, hdr.white_point] {
        rbsp.extend_from_slice(&x.to_be_bytes());
        rbsp.extend_from_slice(&y.to_be_bytes());
    }
    rbsp.extend_from_slice(&hdr.max_luminance.to_be_bytes());
    rbsp.extend_from_slice(&hdr.min_luminance.to_be_bytes());
    rbsp.extend_from_slice(&[SEI_CONTENT_LIGHT_LEVEL as u8, 4]);
    rbsp.extend_from_slice(&hdr.max_cll.to_be_bytes());
    rbsp.extend_from_slice(&hdr.max_fall.to_be_bytes());
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = vec![0, 0, 0, 1];
    nal.extend_from_slice(header);
    nal.extend_from_slice(&escape(&rbsp));
    Some(nal)
}

/// Inserts `nal` (with its start code) right before the first VCL NAL unit of `au` — after any access
/// unit delimiter and parameter sets, as SEI must precede the slices. Appends if `au` has no VCL NAL.
pub fn insert_before_first_vcl(codec: VideoCodec, au: &mut Vec<u8>, nal: &[u8]) {
    let at = nal_spans(au)
        .into_iter()
        .find(|s| nal_type(codec, &au[s.header..s.end]).is_some_and(|t| is_vcl(codec, t)))
        .map_or(au.len(), |s| s.start_code);
    au.splice(at..at, nal.iter().copied());
}

/// AV1 OBU type of a sequence header.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// AV1 OBU type of a temporal delimiter.
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
/// AV1 OBU type of a frame header.
pub const OBU_FRAME_HEADER: u8 = 3;
/// AV1 OBU type of metadata.
pub const OBU_METADATA: u8 = 5;
/// AV1 OBU type of a frame (header + tile group).
pub const OBU_FRAME: u8 = 6;
/// AV1 metadata type: content light level.
pub const AV1_METADATA_HDR_CLL: u8 = 1;
/// AV1 metadata type: mastering display colour volume.
pub const AV1_METADATA_HDR_MDCV: u8 = 2;

/// One OBU inside an AV1 temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObuSpan {
    pub kind: u8,
    /// Offset of the OBU header.
    pub start: usize,
    /// Offset of the payload.
    pub payload: usize,
    /// One past the payload.
    pub end: usize,
}

/// The OBUs of an AV1 temporal unit (low-overhead format: every OBU carries its size). Stops at the first
/// OBU with a size running past the end (not listed) or without a size field (listed: it runs to the end).
pub fn av1_obus(data: &[u8]) -> Vec<ObuSpan> {
    let mut obus = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let start = pos;
        let header = data[pos];
        let kind = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        pos += 1 + usize::from(has_extension);
        if !has_size {
            obus.push(ObuSpan {
                kind,
                start,
                payload: pos.min(data.len()),
                end: data.len(),
            });
            break;
        }
        let Some((size, payload)) = read_leb128(data, pos) else {
            break;
        };
        match payload.checked_add(size) {
            Some(end) if end <= data.len() => {
                obus.push(ObuSpan {
                    kind,
                    start,
                    payload,
                    end,
                });
                pos = end;
            }
            _ => break,
        }
    }
    obus
}

/// The OBU types of an AV1 temporal unit, in order.
pub fn av1_obu_types(data: &[u8]) -> Vec<u8> {
    av1_obus(data).into_iter().map(|o| o.kind).collect()
}

/// The metadata types of the metadata OBUs in an AV1 temporal unit, with their payloads.
pub fn av1_metadata(data: &[u8]) -> Vec<(u64, Vec<u8>)> {
    av1_obus(data)
        .into_iter()
        .filter(|o| o.kind == OBU_METADATA)
        .filter_map(|o| {
            let (kind, body) = read_leb128(data, o.payload).filter(|(_, body)| *body <= o.end)?;
            Some((kind as u64, data[body..o.end].to_vec()))
        })
        .collect()
}

/// Two metadata OBUs (content light level, then mastering display colour volume) for HDR10.
pub fn av1_hdr_metadata_obus(hdr: &HdrMetadata) -> Vec<u8> {
    // AV1 fixed point: chromaticity 0.16, max luminance 24.8, min luminance 18.14 (cd/m²). HdrMetadata
    // carries chromaticity in 0.00002 and luminance in 0.0001 cd/m² units.
    let chroma = |v: u16| {
        ((f64::from(v) * 0.000_02 * 65_536.0).round() as u32).min(u32::from(u16::MAX)) as u16
    };
    let lum = |v: u32, frac_bits: i32| {
        (f64::from(v) * 0.0001 * f64::from(1u32 << frac_bits))
            .round()
            .min(f64::from(u32::MAX)) as u32
    };
    let mut cll = vec![AV1_METADATA_HDR_CLL];
    cll.extend_from_slice(&hdr.max_cll.to_be_bytes());
    cll.extend_from_slice(&hdr.max_fall.to_be_bytes());
    let mut mdcv = vec![AV1_METADATA_HDR_MDCV];
    // Primaries in R, G, B order, then the white point.
    for (x, y) in hdr
        .primaries
        .into_iter()
        .chain(std::iter::once(hdr.white_point))
    {
        mdcv.extend_from_slice(&chroma(x).to_be_bytes());
        mdcv.extend_from_slice(&chroma(y).to_be_bytes());
    }
    mdcv.extend_from_slice(&lum(hdr.max_luminance, 8).to_be_bytes());
    mdcv.extend_from_slice(&lum(hdr.min_luminance, 14).to_be_bytes());
    let mut out = Vec::with_capacity(48);
    for mut payload in [cll, mdcv] {
        payload.push(0x80); // trailing bits
        out.push((OBU_METADATA << 3) | 0x02);
        out.push(payload.len() as u8); // < 128: a one-byte leb128
        out.extend_from_slice(&payload);
    }
    out
}

/// Inserts OBUs right before the first frame (or frame header) OBU of a temporal unit — after the temporal
/// delimiter and sequence header. Appends if there is none.
pub fn av1_insert_before_first_frame(data: &mut Vec<u8>, obus: &[u8]) {
    let at = av1_obus(data)
        .into_iter()
        .find(|o| o.kind == OBU_FRAME || o.kind == OBU_FRAME_HEADER)
        .map_or(data.len(), |o| o.start);
    data.splice(at..at, obus.iter().copied());
}

fn read_leb128(data: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let b = *data.get(pos)?;
        pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(value).ok().map(|v| (v, pos));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> HdrMetadata {
        HdrMetadata {
            primaries: [(34000, 16000), (13250, 34500), (7500, 3000)],
            white_point: (15635, 16450),
            max_luminance: 10_000_000,
            min_luminance: 1,
            max_cll: 1000,
            max_fall: 400,
        }
    }

    #[test]
    fn escape_round_trip() {
        let raw = [0u8, 0, 0, 0, 1, 0, 0, 3, 0, 0, 2, 5];
        let esc = escape(&raw);
        assert_eq!(esc, [0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 3, 0, 0, 3, 2, 5]);
        assert_eq!(unescape(&esc), raw);
    }

    #[test]
    fn hevc_hdr_sei_inserted_before_slices() {
        // AUD, VPS, SPS, PPS, IDR slice.
        let mut au = Vec::new();
        for nal in [
            &[35u8 << 1, 1, 0x50][..],
            &[32 << 1, 1, 9],
            &[33 << 1, 1, 9],
            &[34 << 1, 1, 9],
            &[19 << 1, 1, 0xaa, 0xbb],
        ] {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(nal);
        }
        let sei = hdr_sei_nal(VideoCodec::Hevc, &hdr()).unwrap_or_default();
        insert_before_first_vcl(VideoCodec::Hevc, &mut au, &sei);
        assert_eq!(nal_types(VideoCodec::Hevc, &au), [35, 32, 33, 34, 39, 19]);
        let messages = sei_messages(VideoCodec::Hevc, &au);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].0, SEI_MASTERING_DISPLAY);
        assert_eq!(&messages[0].1[..4], &[0x33, 0xc2, 0x86, 0xc4]); // G = (13250, 34500)
        assert_eq!(
            u32::from_be_bytes([
                messages[0].1[16],
                messages[0].1[17],
                messages[0].1[18],
                messages[0].1[19]
            ]),
            10_000_000
        );
        assert_eq!(
            messages[1],
            (SEI_CONTENT_LIGHT_LEVEL, vec![0x03, 0xe8, 0x01, 0x90])
        );
    }

    #[test]
    fn h264_sei_and_spans() {
        let mut au = vec![0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9];
        let sei = hdr_sei_nal(VideoCodec::H264, &hdr()).unwrap_or_default();
        insert_before_first_vcl(VideoCodec::H264, &mut au, &sei);
        assert_eq!(nal_types(VideoCodec::H264, &au), [7, 8, 6, 5]);
        let types: Vec<u32> = sei_messages(VideoCodec::H264, &au)
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(types, [137, 144]);
        assert!(hdr_sei_nal(VideoCodec::Av1, &hdr()).is_none());
    }

    #[test]
    fn av1_obus() {
        // Temporal delimiter (size 0), sequence header (size 2), frame with a 2-byte leb128 size of 130.
        let mut tu = vec![0x12, 0x00, 0x0a, 0x02, 0xaa, 0xbb, 0x32, 0x82, 0x01];
        tu.extend(std::iter::repeat_n(0u8, 130));
        assert_eq!(
            av1_obu_types(&tu),
            [OBU_TEMPORAL_DELIMITER, OBU_SEQUENCE_HEADER, 6]
        );
        assert_eq!(av1_obu_types(&tu[..20]), [2, 1]);
        let mut tu2 = tu.clone();
        av1_insert_before_first_frame(&mut tu2, &av1_hdr_metadata_obus(&hdr()));
        assert_eq!(
            av1_obu_types(&tu2),
            [2, 1, OBU_METADATA, OBU_METADATA, OBU_FRAME]
        );
        let metadata = av1_metadata(&tu2);
        assert_eq!(metadata[0], (1, vec![0x03, 0xe8, 0x01, 0x90, 0x80]));
        assert_eq!(metadata[1].0, 2);
        let mdcv = &metadata[1].1;
        // R.x = 34000 × 0.00002 = 0.68 → 0.68 × 65536 = 44564.48 → 44564.
        assert_eq!(u16::from_be_bytes([mdcv[0], mdcv[1]]), 44564);
        // 1000 cd/m² in 24.8 = 256000; 0.0001 cd/m² in 18.14 = 1.6384 → 2.
        assert_eq!(
            u32::from_be_bytes([mdcv[16], mdcv[17], mdcv[18], mdcv[19]]),
            256_000
        );
        assert_eq!(
            u32::from_be_bytes([mdcv[20], mdcv[21], mdcv[22], mdcv[23]]),
            2
        );
    }
}
