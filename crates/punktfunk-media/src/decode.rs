//! The client-side decoder: access units in, RGB24 pictures (and their colour description) out.
//!
//! Software FFmpeg decoders (`h264`, `hevc`, `libdav1d` → `libaom-av1` for AV1), opened for low delay:
//! `AV_CODEC_FLAG_LOW_DELAY` and slice threading only (frame threading would hold frames back), so one
//! access unit in gives one picture out. Pictures are converted to tightly packed RGB24 with swscale using the
//! stream's own matrix and range; HDR (PQ/HLG) pictures are converted as code values, without tone mapping.
//! Hardware decoding is not attempted yet: the software floor is what the probe verifies against.
// Needs `unsafe` for FFmpeg FFI; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::collections::VecDeque;

use ffmpeg_next::codec;
use ffmpeg_next::ffi;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::color;
use ffmpeg_next::util::error::EAGAIN;
use ffmpeg_next::util::frame;

use crate::{HdrMetadata, MediaError, VideoCodec};

/// Chroma subsampling of a decoded picture, from its pixel-format descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChromaSubsampling {
    /// Half width, half height.
    Yuv420,
    /// Half width, full height.
    Yuv422,
    /// Full resolution chroma.
    Yuv444,
    /// Luma only.
    Gray,
    /// Anything else (RGB formats, 4:1:1, …) as (log2 horizontal, log2 vertical) subsampling.
    Other { log2_w: u8, log2_h: u8 },
}

/// One decoded picture, converted to RGB24, with what the stream said about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    pub width: u32,
    pub height: u32,
    /// R, G, B bytes, tightly packed (`width × 3` bytes per row).
    pub rgb: Vec<u8>,
    /// FFmpeg's name for the decoder's output format, e.g. `yuv420p`, `yuv420p10le`, `yuv444p`.
    pub pixel_format_name: String,
    /// Bits per component of the decoded picture (8, 10, 12).
    pub bit_depth: u8,
    pub chroma: ChromaSubsampling,
    /// FFmpeg's names for the colour description (`bt709`, `bt2020`; `smpte2084`, `arib-std-b67`;
    /// `bt709`, `bt2020nc`), or `unspecified`.
    pub color_primaries: String,
    pub transfer: String,
    pub matrix: String,
    /// Full range (0–255) rather than limited (16–235).
    pub full_range: bool,
    /// HDR10 static metadata in effect: from this picture's side data, else the last seen in this stream
    /// while the transfer stays PQ or HLG. Fields the stream did not carry are 0 (e.g. no MaxCLL/MaxFALL).
    pub hdr: Option<HdrMetadata>,
    /// The decoder marked this picture as a keyframe (IDR / IRAP / AV1 key frame).
    pub keyframe: bool,
}

/// What the cached swscale context was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScalerKey {
    format: Pixel,
    width: u32,
    height: u32,
    matrix: color::Space,
    full_range: bool,
}

/// An owned swscale context that may move between threads with its decoder.
struct Scaler(scaling::Context);

// SAFETY: an SwsContext has no thread affinity; this one is owned by exactly one `Decoder` and only used
// through `&mut`, so it is never touched by two threads at once.
unsafe impl Send for Scaler {}

/// A low-delay software video decoder (`Send`: it can live on its own thread).
pub struct Decoder {
    name: String,
    decoder: codec::decoder::Video,
    scaler: Option<(ScalerKey, Scaler)>,
    /// Pictures the decoder produced beyond the one returned (should stay empty in low-delay streams).
    pending: VecDeque<DecodedFrame>,
    last_hdr: Option<HdrMetadata>,
    decoded: frame::Video,
    converted: frame::Video,
}

/// Decoders to try per codec, best first. FFmpeg 5.1's native `av1` decoder needs a hardware accelerator.
fn candidates(codec: VideoCodec) -> &'static [&'static str] {
    match codec {
        VideoCodec::H264 => &["h264"],
        VideoCodec::Hevc => &["hevc"],
        VideoCodec::Av1 => &["libdav1d", "libaom-av1"],
    }
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

impl Decoder {
    /// Opens the first software decoder for `codec` that this FFmpeg has and that opens.
    pub fn new(codec: VideoCodec) -> Result<Self, MediaError> {
        crate::init()?;
        let mut tried = Vec::new();
        for &name in candidates(codec) {
            match Self::open(name) {
                Ok(decoder) => {
                    tracing::debug!(decoder = name, ?codec, "video decoder opened");
                    return Ok(decoder);
                }
                Err(e) => {
                    tracing::debug!(decoder = name, error = %e, "video decoder did not open");
                    tried.push(format!("{name}: {e}"));
                }
            }
        }
        Err(MediaError::Unsupported(format!(
            "no {codec:?} decoder opened ({})",
            tried.join("; ")
        )))
    }

    /// Opens the FFmpeg decoder called `name` for low-delay decoding.
    pub fn open(name: &str) -> Result<Self, MediaError> {
        crate::init()?;
        let found = codec::decoder::find_by_name(name)
            .ok_or_else(|| MediaError::Unsupported(format!("no decoder {name}")))?;
        let mut context = codec::Context::new_with_codec(found);
        context.set_flags(codec::Flags::LOW_DELAY);
        context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Slice,
            count: threads(),
            ..Default::default()
        });
        let decoder = context.decoder().open_as(found)?.video()?;
        Ok(Self {
            name: name.to_owned(),
            decoder,
            scaler: None,
            pending: VecDeque::new(),
            last_hdr: None,
            decoded: frame::Video::empty(),
            converted: frame::Video::empty(),
        })
    }

    /// FFmpeg's name of the decoder in use (`h264`, `hevc`, `libdav1d`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Decodes one access unit (Annex-B for H.264/HEVC, a temporal unit for AV1). Returns the picture it
    /// completes, or `None` when the decoder needs more data. Should a stream make the decoder emit more
    /// than one picture for an access unit, the others wait in [`next_frame`](Self::next_frame).
    ///
    /// A corrupt access unit is an error; the decoder stays usable (send a keyframe next).
    pub fn decode(&mut self, au: &[u8]) -> Result<Option<DecodedFrame>, MediaError> {
        if !au.is_empty() {
            // An empty packet would mean end-of-stream to FFmpeg; that is what `flush` is for.
            let packet = ffmpeg_next::Packet::copy(au);
            loop {
                match self.decoder.send_packet(&packet) {
                    Ok(()) => break,
                    // The decoder's output is full: take its pictures, then offer the packet again.
                    Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => {
                        if self.receive_all()? == 0 {
                            return Err(MediaError::Unsupported(format!(
                                "{} accepts neither input nor output",
                                self.name
                            )));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            self.receive_all()?;
        }
        Ok(self.pending.pop_front())
    }

    /// A picture left over from an earlier [`decode`](Self::decode) call, if any.
    pub fn next_frame(&mut self) -> Option<DecodedFrame> {
        self.pending.pop_front()
    }

    /// Ends the stream: returns every picture the decoder still holds, then resets it for a new stream.
    pub fn flush(&mut self) -> Result<Vec<DecodedFrame>, MediaError> {
        self.decoder.send_eof()?;
        self.receive_all()?;
        self.decoder.flush();
        self.last_hdr = None;
        Ok(self.pending.drain(..).collect())
    }

    /// Moves every picture the decoder has ready into `pending`; returns how many.
    fn receive_all(&mut self) -> Result<usize, MediaError> {
        let mut count = 0;
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    let picture = self.convert()?;
                    self.pending.push_back(picture);
                    count += 1;
                }
                Err(ffmpeg_next::Error::Other { errno }) if errno == EAGAIN => return Ok(count),
                Err(ffmpeg_next::Error::Eof) => return Ok(count),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Describes `self.decoded` and converts it to RGB24.
    fn convert(&mut self) -> Result<DecodedFrame, MediaError> {
        let picture = &self.decoded;
        let (width, height, format) = (picture.width(), picture.height(), picture.format());
        let descriptor = format.descriptor().ok_or_else(|| {
            MediaError::Unsupported(format!(
                "decoder produced an undescribed pixel format {format:?}"
            ))
        })?;
        let full_range = picture.color_range() == color::Range::JPEG || is_jpeg_format(format);
        let transfer = picture.color_transfer_characteristic();
        let matrix = picture.color_space();

        let hdr = read_hdr(picture);
        let hdr_transfer = matches!(
            transfer,
            color::TransferCharacteristic::SMPTE2084 | color::TransferCharacteristic::ARIB_STD_B67
        );
        if hdr.is_some() {
            self.last_hdr = hdr;
        } else if !hdr_transfer {
            self.last_hdr = None;
        }

        let key = ScalerKey {
            format,
            width,
            height,
            matrix,
            full_range,
        };
        let scaler = match &mut self.scaler {
            Some((cached, scaler)) if *cached == key => scaler,
            slot => {
                let scaler = Scaler(make_scaler(key)?);
                self.converted = frame::Video::empty();
                &mut slot.insert((key, scaler)).1
            }
        };
        scaler.0.run(picture, &mut self.converted)?;

        let row = width as usize * 3;
        let stride = self.converted.stride(0);
        let plane = self.converted.data(0);
        let mut rgb = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            rgb.extend_from_slice(&plane[y * stride..y * stride + row]);
        }

        Ok(DecodedFrame {
            width,
            height,
            rgb,
            pixel_format_name: descriptor.name().to_owned(),
            bit_depth: component_depth(format),
            chroma: match (
                descriptor.nb_components(),
                descriptor.log2_chroma_w(),
                descriptor.log2_chroma_h(),
            ) {
                (1 | 2, _, _) => ChromaSubsampling::Gray,
                (_, 1, 1) => ChromaSubsampling::Yuv420,
                (_, 1, 0) => ChromaSubsampling::Yuv422,
                (_, 0, 0) if !is_rgb_format(format) => ChromaSubsampling::Yuv444,
                (_, log2_w, log2_h) => ChromaSubsampling::Other { log2_w, log2_h },
            },
            color_primaries: picture
                .color_primaries()
                .name()
                .unwrap_or("unspecified")
                .to_owned(),
            transfer: transfer.name().unwrap_or("unspecified").to_owned(),
            matrix: matrix.name().unwrap_or("unspecified").to_owned(),
            full_range,
            hdr: self.last_hdr,
            keyframe: picture.is_key(),
        })
    }
}

/// `yuvj*` formats are full range whatever the tag says.
fn is_jpeg_format(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
    )
}

fn is_rgb_format(format: Pixel) -> bool {
    format.descriptor().is_some_and(|d| {
        // SAFETY: `as_ptr` of a descriptor returned by `av_pix_fmt_desc_get` points at a static, immutable
        // AVPixFmtDescriptor that lives for the whole program.
        let flags = unsafe { (*d.as_ptr()).flags };
        flags & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0
    })
}

/// Bits of the first component (luma) of `format`.
fn component_depth(format: Pixel) -> u8 {
    format.descriptor().map_or(0, |d| {
        // SAFETY: as in `is_rgb_format`: a pointer to a static descriptor, whose `comp` array always has
        // four entries (unused ones zeroed).
        let depth = unsafe { (*d.as_ptr()).comp[0].depth };
        u8::try_from(depth).unwrap_or(0)
    })
}

/// A swscale context converting `key.format` to RGB24 at the same size with the stream's matrix and range.
fn make_scaler(key: ScalerKey) -> Result<scaling::Context, MediaError> {
    let flags = scaling::Flags::BILINEAR
        | scaling::Flags::ACCURATE_RND
        | scaling::Flags::FULL_CHR_H_INT
        | scaling::Flags::FULL_CHR_H_INP;
    let mut scaler = scaling::Context::get(
        key.format,
        key.width,
        key.height,
        Pixel::RGB24,
        key.width,
        key.height,
        flags,
    )?;
    // swscale assumes BT.601 unless told; the stream says which matrix it was coded with.
    let matrix = match key.matrix {
        color::Space::Unspecified | color::Space::Reserved if key.height >= 720 => {
            color::Space::BT709
        }
        color::Space::Unspecified | color::Space::Reserved => color::Space::SMPTE170M,
        other => other,
    };
    let sws_space = ffi::AVColorSpace::from(matrix) as std::ffi::c_int;
    // SAFETY: `scaler` owns a valid SwsContext; `sws_getCoefficients` returns a pointer to a static table
    // of four ints (falling back to the default table for values it does not know), which
    // `sws_setColorspaceDetails` only reads.
    let result = unsafe {
        let coefficients = ffi::sws_getCoefficients(sws_space);
        let rgb = ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT as std::ffi::c_int);
        ffi::sws_setColorspaceDetails(
            scaler.as_mut_ptr(),
            coefficients,
            std::ffi::c_int::from(key.full_range),
            rgb,
            1,
            0,
            1 << 16,
            1 << 16,
        )
    };
    if result < 0 {
        tracing::debug!(format = ?key.format, ?matrix, "swscale ignored the colour details; converting with its defaults");
    }
    Ok(scaler)
}

/// Reads 32-bit native-endian ints from FFmpeg side data laid out as a C struct of ints.
fn read_ints<const N: usize>(data: &[u8]) -> Option<[i32; N]> {
    let mut out = [0i32; N];
    for (i, value) in out.iter_mut().enumerate() {
        let bytes = data.get(i * 4..i * 4 + 4)?;
        *value = i32::from_ne_bytes(bytes.try_into().ok()?);
    }
    Some(out)
}

/// `num/den` scaled to `unit` fixed-point units, rounded; 0 for a zero denominator.
fn rational_to_units(num: i32, den: i32, unit: i64) -> i64 {
    if den == 0 {
        return 0;
    }
    let (num, den) = (i64::from(num) * unit, i64::from(den));
    (num + den / 2).div_euclid(den)
}

/// HDR10 static metadata from a picture's side data (`AVMasteringDisplayMetadata`,
/// `AVContentLightMetadata`), if it carries either.
fn read_hdr(picture: &frame::Video) -> Option<HdrMetadata> {
    use ffmpeg_next::util::frame::side_data::Type;
    let mut hdr = HdrMetadata {
        primaries: [(0, 0); 3],
        white_point: (0, 0),
        max_luminance: 0,
        min_luminance: 0,
        max_cll: 0,
        max_fall: 0,
    };
    let mut found = false;
    // AVMasteringDisplayMetadata: AVRational display_primaries[3][2] (R, G, B), white_point[2],
    // min_luminance, max_luminance; int has_primaries, has_luminance — 22 ints.
    if let Some(ints) = picture
        .side_data(Type::MasteringDisplayMetadata)
        .and_then(|sd| read_ints::<22>(sd.data()))
    {
        let chromaticity = |i: usize| {
            rational_to_units(ints[i * 2], ints[i * 2 + 1], 50_000).clamp(0, 50_000) as u16
        };
        let luminance = |i: usize| {
            rational_to_units(ints[i * 2], ints[i * 2 + 1], 10_000).clamp(0, i64::from(u32::MAX))
                as u32
        };
        if ints[20] != 0 {
            for (c, primary) in hdr.primaries.iter_mut().enumerate() {
                *primary = (chromaticity(c * 2), chromaticity(c * 2 + 1));
            }
            hdr.white_point = (chromaticity(6), chromaticity(7));
            found = true;
        }
        if ints[21] != 0 {
            hdr.min_luminance = luminance(8);
            hdr.max_luminance = luminance(9);
            found = true;
        }
    }
    // AVContentLightMetadata: unsigned MaxCLL, MaxFALL.
    if let Some([max_cll, max_fall]) = picture
        .side_data(Type::ContentLightLevel)
        .and_then(|sd| read_ints::<2>(sd.data()))
    {
        hdr.max_cll = u16::try_from(max_cll as u32).unwrap_or(u16::MAX);
        hdr.max_fall = u16::try_from(max_fall as u32).unwrap_or(u16::MAX);
        found = true;
    }
    found.then_some(hdr)
}

/// PSNR in dB between two equally long 8-bit buffers (e.g. RGB24 pictures): `+∞` when identical, NaN
/// when the lengths differ or both are empty (so any threshold comparison fails).
pub fn psnr_rgb(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::NAN;
    }
    // Rows of 4 KiB summed in u32 (4096 × 255² < 2³²), then widened: fast even unoptimised.
    let mut squared = 0u64;
    for (ca, cb) in a.chunks(4096).zip(b.chunks(4096)) {
        let mut part = 0u32;
        for i in 0..ca.len() {
            let d = u32::from(ca[i].abs_diff(cb[i]));
            part += d * d;
        }
        squared += u64::from(part);
    }
    if squared == 0 {
        return f64::INFINITY;
    }
    let mse = squared as f64 / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Decoder>();
    }

    #[test]
    fn psnr_values() {
        assert_eq!(psnr_rgb(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        assert!(psnr_rgb(&[1, 2], &[1, 2, 3]).is_nan());
        assert!(psnr_rgb(&[], &[]).is_nan());
        // Every byte off by 1: MSE 1 → 20·log10(255) ≈ 48.13 dB.
        let a = vec![100u8; 300];
        let b = vec![101u8; 300];
        assert!((psnr_rgb(&a, &b) - 48.1308).abs() < 1e-3);
        // Maximal error: 0 dB.
        assert!(psnr_rgb(&[0; 9], &[255; 9]).abs() < 1e-9);
    }

    #[test]
    fn rational_rounding() {
        assert_eq!(rational_to_units(34000, 50000, 50_000), 34000);
        assert_eq!(rational_to_units(1, 3, 50_000), 16667);
        assert_eq!(rational_to_units(10_000_000, 10_000, 10_000), 10_000_000);
        assert_eq!(rational_to_units(5, 0, 10_000), 0);
    }

    #[test]
    fn side_data_ints_are_bounds_checked() {
        assert_eq!(read_ints::<2>(&[1, 0, 0, 0, 2, 0, 0]), None);
        let bytes: Vec<u8> = [7i32, -3].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(read_ints::<2>(&bytes), Some([7, -3]));
    }

    #[test]
    fn opens_a_decoder_for_every_codec() {
        for codec in [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1] {
            let decoder = Decoder::new(codec).expect("decoder");
            assert!(!decoder.name().is_empty());
        }
        assert!(Decoder::open("no-such-decoder").is_err());
    }

    #[test]
    fn garbage_is_an_error_or_nothing_and_the_decoder_survives() {
        let mut decoder = Decoder::new(VideoCodec::H264).expect("decoder");
        // Not Annex-B at all: the decoder either rejects it or finds nothing to show.
        let result = decoder.decode(&[0x12; 64]);
        assert!(matches!(result, Ok(None) | Err(_)), "{result:?}");
        assert!(matches!(decoder.decode(&[]), Ok(None)));
        assert!(decoder.flush().expect("flush").is_empty());
    }
}
