//! [`FfmpegEncoder`]: one FFmpeg encoder session behind the [`Encoder`] trait.
//!
//! Per frame: convert BGRx/RGBx → YUV (swscale, threaded, context reused), stamp pts = frame counter in a
//! 1/fps time base, mark a requested keyframe (`pict_type = I`, `key_frame = 1`, with `forced-idr` so it
//! is an IDR), upload to a VAAPI surface if needed, send, and take exactly one packet back. The encoder
//! is configured so that nothing is held back (no B-frames, no lookahead, no frame threads); a packet
//! that does not come back is an error, not a silent delay (and the session is reopened on the next
//! frame). `AccessUnit::encode_time` covers the whole call: conversion, upload and encode.
//!
//! HDR10 metadata: libx264 / libx265 / libsvtav1 write it from their parameter strings; for NVENC and
//! VAAPI (SEI NAL) and libaom (metadata OBUs) punktfunk inserts it into every keyframe itself.
//!
//! Live control:
//! - `request_keyframe`: forced IDR on the next frame (every live backend honours it).
//! - `set_bitrate`: libx264 and NVENC re-read `bit_rate` / `rc_max_rate` / `rc_buffer_size` each frame and
//!   reconfigure in place (no keyframe). libx265, libaom-av1 and VAAPI have no such path in FFmpeg 5.1,
//!   so the encoder is reopened with the new rate — which costs a keyframe (logged).
//!
//! libsvtav1 is not a live backend on FFmpeg 5.1: its wrapper polls SVT for a packet only right after a
//! new frame arrives, so frame N's packet can only come out when frame N+1 goes in. [`FfmpegEncoder`]
//! refuses it; [`measure_throughput`] still runs it (pipelined) for the self-test.
//!
//! One concept, one file (longer than most): the FFmpeg encoder session, whose open/encode/drain
//! steps share the same FFI state and are only safe read together.
// Needs `unsafe` for FFmpeg FFI; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ffmpeg_next::codec::{self, threading};
use ffmpeg_next::{Packet, Rational, color, ffi, frame, picture};

use super::backend::{Backend, Family};
use super::bitstream;
use super::options::{self, RateControl};
use super::vaapi::VaapiUpload;
use crate::convert::{Converter, YuvLayout, YuvPicture};
use crate::{
    AccessUnit, ColorSpace, EncodedFrame, EncoderConfig, MediaError, PixelFormat, RawFrame,
    VideoCodec,
};

use super::Encoder;

/// How long an asynchronous backend may take to hand a frame's packet back before it counts as buffered.
const ASYNC_OUTPUT_DEADLINE: Duration = Duration::from_secs(2);

/// An open FFmpeg encoder.
pub struct FfmpegEncoder {
    backend: Backend,
    config: EncoderConfig,
    /// `None` only between closing a session and a successful reopen.
    session: Option<Session>,
    converter: Converter,
    picture: frame::Video,
    packet: Packet,
    /// pts of the next frame, in 1/fps units.
    frame_index: i64,
    keyframe_pending: bool,
    /// Reopen before the next frame (bitrate change or keyframe on a backend without a live path).
    reopen_pending: bool,
    /// HDR10 SEI NAL / metadata OBUs to insert into keyframes, for backends that do not write them.
    hdr_metadata: Option<Vec<u8>>,
    /// Render node for VAAPI sessions (kept for reopening).
    vaapi_node: Option<PathBuf>,
    /// The last keyframe with headers inserted (see `add_keyframe_headers`), when `edited`.
    edited_au: Vec<u8>,
    edited: bool,
}

struct Session {
    encoder: ffmpeg_next::encoder::Video,
    /// AV1 sequence header from the encoder's extradata, put in front of keyframes that lack one.
    av1_sequence_header: Option<Vec<u8>>,
    vaapi: Option<VaapiUpload>,
}

impl FfmpegEncoder {
    /// Opens `backend` with `config`. For VAAPI, the render node is taken from a GPU probe; use
    /// [`FfmpegEncoder::open_vaapi`] to choose one.
    pub fn open(backend: Backend, config: &EncoderConfig) -> Result<Self, MediaError> {
        let node = if backend.family() == Family::Vaapi {
            let inventory = super::probe::GpuInventory::probe();
            Some(
                inventory
                    .vaapi_node()
                    .map_err(|reason| MediaError::EncoderOpen {
                        name: backend.to_string(),
                        reason,
                    })?,
            )
        } else {
            None
        };
        Self::open_with_node(backend, config, node)
    }

    /// Opens a VAAPI backend on a given render node (`/dev/dri/renderD128`).
    pub fn open_vaapi(
        backend: Backend,
        config: &EncoderConfig,
        node: PathBuf,
    ) -> Result<Self, MediaError> {
        Self::open_with_node(backend, config, Some(node))
    }

    fn open_with_node(
        backend: Backend,
        config: &EncoderConfig,
        vaapi_node: Option<PathBuf>,
    ) -> Result<Self, MediaError> {
        crate::init()?;
        if let Some(why) = backend.live_limitation() {
            return Err(MediaError::EncoderOpen {
                name: backend.to_string(),
                reason: format!("not usable live: {why}"),
            });
        }
        let started = Instant::now();
        let session = open_session(backend, config, vaapi_node.as_deref())?;
        let layout = backend.input_layout(config.chroma);
        let converter = Converter::new(
            PixelFormat::Bgrx,
            layout,
            config.width,
            config.height,
            config.color,
            config.full_range,
            0,
        )?;
        // Allocated by the first `encode` (callers converting elsewhere use `encode_picture` and
        // never need it).
        let picture = frame::Video::empty();
        let hdr_metadata = match (&config.hdr, backend.writes_hdr_metadata(), config.codec) {
            (Some(hdr), false, VideoCodec::Av1) => Some(bitstream::av1_hdr_metadata_obus(hdr)),
            (Some(hdr), false, codec) => bitstream::hdr_sei_nal(codec, hdr),
            _ => None,
        };
        tracing::debug!(
            encoder = backend.ffmpeg_name(),
            width = config.width,
            height = config.height,
            fps = format!("{}/{}", config.fps_num, config.fps_den),
            kbps = config.bitrate_kbps,
            chroma = ?config.chroma,
            color = ?config.color,
            hdr = config.hdr.is_some(),
            open_ms = started.elapsed().as_millis() as u64,
            "encoder opened"
        );
        Ok(Self {
            backend,
            config: config.clone(),
            session: Some(session),
            converter,
            picture,
            packet: Packet::empty(),
            frame_index: 0,
            keyframe_pending: false,
            reopen_pending: false,
            hdr_metadata,
            vaapi_node,
            edited_au: Vec::new(),
            edited: false,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Encodes a picture already in [`Self::input_layout`]; the access unit is left in the packet
    /// (or, for keyframes that needed metadata inserted, in `edited_au`). Returns whether it is a
    /// keyframe.
    fn encode_converted(
        &mut self,
        picture: &mut frame::Video,
        started: Instant,
    ) -> Result<bool, MediaError> {
        if self.reopen_pending {
            self.reopen()?;
        }
        let force_key = self.keyframe_pending;
        picture.set_pts(Some(self.frame_index));
        picture.set_kind(if force_key {
            picture::Type::I
        } else {
            picture::Type::None
        });
        // SAFETY: plain field of an AVFrame we hold exclusively (ffmpeg-next has no setter for it).
        unsafe { (*picture.as_mut_ptr()).key_frame = i32::from(force_key) };
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| no_session(self.backend))?;
        let sent = match &session.vaapi {
            Some(vaapi) => vaapi
                .upload(picture)
                .and_then(|surface| Ok(session.encoder.send_frame(&surface)?)),
            None => session
                .encoder
                .send_frame(picture)
                .map_err(MediaError::from),
        };
        let received = sent.and_then(|()| self.receive());
        if let Err(e) = received {
            // The session may now be out of step (a frame in, no packet out): start afresh next frame.
            tracing::warn!(encoder = self.backend.ffmpeg_name(), error = %e, "encode failed; the encoder will be reopened");
            self.reopen_pending = true;
            return Err(e);
        }
        let sent_pts = self.frame_index;
        self.frame_index += 1;
        if self.packet.pts().is_some_and(|pts| pts != sent_pts) {
            self.reopen_pending = true;
            return Err(MediaError::Unsupported(format!(
                "{} returned pts {:?} for frame {sent_pts}: it reorders or buffers frames",
                self.backend,
                self.packet.pts()
            )));
        }
        let keyframe = self.packet.is_key();
        if force_key && !keyframe {
            tracing::warn!(
                encoder = self.backend.ffmpeg_name(),
                "requested keyframe was not honoured"
            );
        }
        self.keyframe_pending = force_key && !keyframe;
        self.edited = false;
        if keyframe {
            self.add_keyframe_headers();
        }
        tracing::trace!(
            encoder = self.backend.ffmpeg_name(),
            frame = sent_pts,
            bytes = self.access_unit().len(),
            keyframe,
            total_us = started.elapsed().as_micros() as u64,
            "encoded"
        );
        Ok(keyframe)
    }

    /// Puts what keyframes must carry but this backend does not write (HDR metadata, the AV1
    /// sequence header) into a copy of the packet: only keyframes pay for that copy.
    fn add_keyframe_headers(&mut self) {
        let av1_header = self
            .session
            .as_ref()
            .and_then(|s| s.av1_sequence_header.as_ref());
        let packet = self.packet.data().unwrap_or_default();
        let needs_header = av1_header.is_some()
            && !bitstream::av1_obu_types(packet).contains(&bitstream::OBU_SEQUENCE_HEADER);
        if self.hdr_metadata.is_none() && !needs_header {
            return;
        }
        self.edited_au.clear();
        self.edited_au.extend_from_slice(packet);
        match (&self.hdr_metadata, self.config.codec) {
            (Some(obus), VideoCodec::Av1) => {
                bitstream::av1_insert_before_first_frame(&mut self.edited_au, obus)
            }
            (Some(sei), codec) => {
                bitstream::insert_before_first_vcl(codec, &mut self.edited_au, sei)
            }
            (None, _) => {}
        }
        if let (true, Some(header)) = (needs_header, av1_header) {
            prepend_av1_sequence_header(&mut self.edited_au, header);
        }
        self.edited = true;
    }

    /// The access unit of the last encoded frame.
    fn access_unit(&self) -> &[u8] {
        if self.edited {
            &self.edited_au
        } else {
            self.packet.data().unwrap_or_default()
        }
    }

    fn reopen(&mut self) -> Result<(), MediaError> {
        let started = Instant::now();
        // Close the old session first: hardware encoders may limit concurrent sessions. If the reopen
        // fails, `reopen_pending` stays set and the next frame tries again.
        self.session = None;
        self.session = Some(open_session(
            self.backend,
            &self.config,
            self.vaapi_node.as_deref(),
        )?);
        self.reopen_pending = false;
        self.keyframe_pending = false;
        tracing::debug!(
            encoder = self.backend.ffmpeg_name(),
            ms = started.elapsed().as_millis() as u64,
            "encoder reopened"
        );
        Ok(())
    }

    fn receive(&mut self) -> Result<(), MediaError> {
        let deadline = Instant::now() + ASYNC_OUTPUT_DEADLINE;
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| no_session(self.backend))?;
        loop {
            match session.encoder.receive_packet(&mut self.packet) {
                Ok(()) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno })
                    if errno == ffmpeg_next::util::error::EAGAIN =>
                {
                    if !self.backend.asynchronous_output() || Instant::now() >= deadline {
                        return Err(MediaError::Unsupported(format!(
                            "{} returned no packet for frame {} (it is buffering frames; one access unit per frame is required)",
                            self.backend, self.frame_index
                        )));
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Opens the configured session.
fn open_session(
    backend: Backend,
    config: &EncoderConfig,
    vaapi_node: Option<&std::path::Path>,
) -> Result<Session, MediaError> {
    let name = backend.ffmpeg_name();
    let open_err = |reason: String| MediaError::EncoderOpen {
        name: name.to_string(),
        reason,
    };
    if backend.codec() != config.codec {
        return Err(open_err(format!(
            "{name} encodes {:?}, the session wants {:?}",
            backend.codec(),
            config.codec
        )));
    }
    if let Some(why) = backend.chroma_limitation(config.chroma) {
        return Err(MediaError::Unsupported(format!("{name}: {why}")));
    }
    if config.width == 0
        || config.height == 0
        || config.fps_num == 0
        || config.fps_den == 0
        || config.bitrate_kbps == 0
    {
        return Err(open_err(format!(
            "invalid configuration {}x{} @ {}/{} fps, {} kbit/s",
            config.width, config.height, config.fps_num, config.fps_den, config.bitrate_kbps
        )));
    }
    if !config.chroma.is_444()
        && (!config.width.is_multiple_of(2) || !config.height.is_multiple_of(2))
    {
        return Err(open_err(format!(
            "4:2:0 needs even dimensions, got {}x{}",
            config.width, config.height
        )));
    }
    let codec = ffmpeg_next::encoder::find_by_name(name)
        .ok_or_else(|| MediaError::EncoderMissing(name.to_string()))?;
    let mut video = codec::Context::new_with_codec(codec).encoder().video()?;
    let rc = RateControl::new(config.bitrate_kbps, config.fps_num, config.fps_den);

    video.set_width(config.width);
    video.set_height(config.height);
    video.set_format(backend.input_layout(config.chroma).pixel());
    video.set_time_base(Rational::new(config.fps_den as i32, config.fps_num as i32));
    video.set_frame_rate(Some(Rational::new(
        config.fps_num as i32,
        config.fps_den as i32,
    )));
    // SVT-AV1 wants its buffer ≥ 20 ms and a max rate above the target (or none: its CBR ignores it).
    let (max_rate, buffer_bits, initial_bits) = match backend {
        Backend::SvtAv1 => (0, rc.buffer_bits.max(rc.bit_rate / 40), 0),
        _ => (rc.bit_rate, rc.buffer_bits, rc.buffer_bits),
    };
    video.set_bit_rate(rc.bit_rate as usize);
    video.set_max_bit_rate(max_rate as usize);
    video.set_max_b_frames(0);
    // Effectively infinite GOP; keyframes come on request. (Intra refresh sets its own period.)
    video.set_gop(i32::MAX as u32);
    let (primaries, transfer, space) = match config.color {
        ColorSpace::Bt709 => (
            color::Primaries::BT709,
            color::TransferCharacteristic::BT709,
            color::Space::BT709,
        ),
        ColorSpace::Bt2020Pq => (
            color::Primaries::BT2020,
            color::TransferCharacteristic::SMPTE2084,
            color::Space::BT2020NCL,
        ),
    };
    video.set_color_primaries(primaries);
    video.set_color_transfer_characteristic(transfer);
    video.set_colorspace(space);
    video.set_color_range(if config.full_range {
        color::Range::JPEG
    } else {
        color::Range::MPEG
    });
    if !backend.is_hardware() {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16);
        video.set_threading(threading::Config {
            kind: threading::Type::Slice,
            count: threads,
            ..Default::default()
        });
    }
    // SAFETY: `video` wraps a valid, not yet opened AVCodecContext we own; these are plain fields that
    // ffmpeg-next has no setters for.
    unsafe {
        let ctx = video.as_mut_ptr();
        (*ctx).rc_buffer_size = buffer_bits.min(i64::from(i32::MAX)) as i32;
        (*ctx).rc_initial_buffer_occupancy = initial_bits.min(i64::from(i32::MAX)) as i32;
        if backend == Backend::AomAv1 {
            // FFmpeg's libaom wrapper selects CBR when min = max = target rate.
            (*ctx).rc_min_rate = rc.bit_rate;
        }
    }

    let vaapi = match backend.family() {
        Family::Vaapi => {
            let node = vaapi_node.ok_or_else(|| open_err("no render node for VAAPI".into()))?;
            let upload = VaapiUpload::new(
                node,
                backend.input_layout(config.chroma).pixel(),
                config.width,
                config.height,
            )
            .map_err(open_err)?;
            // SAFETY: the context is valid and unopened.
            unsafe { upload.attach(video.as_mut_ptr())? };
            Some(upload)
        }
        _ => None,
    };

    for (key, value) in options::private_options(backend, config, &rc) {
        set_private_option(&mut video, key, &value)
            .map_err(|e| open_err(format!("option {key}={value}: {e}")))?;
    }
    tracing::debug!(encoder = name, "opening");
    let encoder = video.open_as(codec).map_err(|e| {
        // NVENC reports a missing libcuda / driver as a bare EPERM or ENOSYS; say what the probe saw.
        let hint = match backend.family() {
            Family::Nvenc => super::probe::GpuInventory::probe().nvenc_unavailable(),
            _ => None,
        };
        open_err(match hint {
            Some(hint) => format!("{e} ({hint})"),
            None => e.to_string(),
        })
    })?;
    let av1_sequence_header = if config.codec == VideoCodec::Av1 {
        extradata(&encoder)
    } else {
        None
    };
    Ok(Session {
        encoder,
        av1_sequence_header,
        vaapi,
    })
}

fn no_session(backend: Backend) -> MediaError {
    MediaError::EncoderOpen {
        name: backend.to_string(),
        reason: "the last reopen failed".into(),
    }
}

fn set_private_option(
    video: &mut ffmpeg_next::encoder::video::Video,
    key: &str,
    value: &str,
) -> Result<(), ffmpeg_next::Error> {
    let key = std::ffi::CString::new(key).map_err(|_| ffmpeg_next::Error::InvalidData)?;
    let value = std::ffi::CString::new(value).map_err(|_| ffmpeg_next::Error::InvalidData)?;
    // SAFETY: the context is valid and was allocated for a codec, so priv_data is that codec's AVClass
    // object (or null for codecs without private options, which av_opt_set rejects cleanly); both strings
    // are NUL-terminated and outlive the call.
    let ret = unsafe {
        let priv_data = (*video.as_mut_ptr()).priv_data;
        if priv_data.is_null() {
            return Err(ffmpeg_next::Error::OptionNotFound);
        }
        ffi::av_opt_set(priv_data, key.as_ptr(), value.as_ptr(), 0)
    };
    if ret < 0 {
        Err(ffmpeg_next::Error::from(ret))
    } else {
        Ok(())
    }
}

fn extradata(encoder: &ffmpeg_next::encoder::Video) -> Option<Vec<u8>> {
    // SAFETY: after a successful open, extradata is either null or `extradata_size` valid bytes owned by
    // the context, which outlives this copy.
    unsafe {
        let ctx = encoder.as_ptr();
        let (data, size) = ((*ctx).extradata, (*ctx).extradata_size);
        (!data.is_null() && size > 0)
            .then(|| std::slice::from_raw_parts(data, size as usize).to_vec())
    }
}

impl Encoder for FfmpegEncoder {
    fn name(&self) -> &str {
        self.backend.ffmpeg_name()
    }

    fn config(&self) -> &EncoderConfig {
        &self.config
    }

    fn encode(&mut self, frame: &RawFrame<'_>) -> Result<AccessUnit, MediaError> {
        let started = Instant::now();
        // The encoder's own picture, lent out for the call (`encode_converted` borrows `self`).
        let mut picture = std::mem::replace(&mut self.picture, frame::Video::empty());
        let converted = self.converter.convert(frame, &mut picture);
        let encoded = converted.and_then(|()| self.encode_converted(&mut picture, started));
        self.picture = picture;
        let keyframe = encoded?;
        Ok(AccessUnit {
            data: self.access_unit().to_vec(),
            keyframe,
            pts_us: frame.pts_us,
            encode_time: started.elapsed(),
        })
    }

    fn input_layout(&self) -> YuvLayout {
        self.converter.layout()
    }

    fn encode_picture(&mut self, picture: &mut YuvPicture) -> Result<EncodedFrame<'_>, MediaError> {
        let started = Instant::now();
        let keyframe = self.encode_converted(picture.frame_mut(), started)?;
        Ok(EncodedFrame {
            data: self.access_unit(),
            keyframe,
            encode_time: started.elapsed(),
        })
    }

    fn request_keyframe(&mut self) {
        if self.backend.forces_keyframes() {
            self.keyframe_pending = true;
        } else {
            tracing::debug!(
                encoder = self.backend.ffmpeg_name(),
                "keyframe by reopening (forced picture types are ignored)"
            );
            self.reopen_pending = true;
        }
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), MediaError> {
        if kbps == 0 {
            return Err(MediaError::Unsupported("a bitrate of 0".into()));
        }
        if kbps == self.config.bitrate_kbps {
            return Ok(());
        }
        let old = self.config.bitrate_kbps;
        self.config.bitrate_kbps = kbps;
        if self.backend.live_bitrate() {
            let rc = RateControl::new(kbps, self.config.fps_num, self.config.fps_den);
            let session = self
                .session
                .as_mut()
                .ok_or_else(|| no_session(self.backend))?;
            // SAFETY: plain fields of our open context; the wrapper reads them at the next frame and calls
            // its encoder's reconfigure (libx264: x264_encoder_reconfig; NVENC: nvEncReconfigureEncoder).
            unsafe {
                let ctx = session.encoder.as_mut_ptr();
                (*ctx).bit_rate = rc.bit_rate;
                (*ctx).rc_max_rate = rc.bit_rate;
                (*ctx).rc_buffer_size = rc.buffer_bits.min(i64::from(i32::MAX)) as i32;
            }
            tracing::debug!(
                encoder = self.backend.ffmpeg_name(),
                old,
                kbps,
                "bitrate changed live"
            );
        } else {
            tracing::info!(
                encoder = self.backend.ffmpeg_name(),
                old,
                kbps,
                "bitrate change reopens the encoder (no live reconfiguration in FFmpeg 5.1's wrapper): next frame is a keyframe"
            );
            self.reopen_pending = true;
        }
        Ok(())
    }
}

fn prepend_av1_sequence_header(data: &mut Vec<u8>, header: &[u8]) {
    // Keep a leading temporal delimiter first.
    let at = if bitstream::av1_obu_types(data).first() == Some(&bitstream::OBU_TEMPORAL_DELIMITER)
        && data.len() >= 2
    {
        2
    } else {
        0
    };
    data.splice(at..at, header.iter().copied());
}

impl std::fmt::Debug for FfmpegEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfmpegEncoder")
            .field("backend", &self.backend)
            .field("config", &self.config)
            .field("frame_index", &self.frame_index)
            .finish_non_exhaustive()
    }
}

/// Opens `backend` directly (no fallback) as a boxed [`Encoder`].
pub fn open_backend(
    backend: Backend,
    config: &EncoderConfig,
) -> Result<Box<dyn Encoder>, MediaError> {
    Ok(Box::new(FfmpegEncoder::open(backend, config)?))
}

/// libx264 (H.264 software).
pub fn open_libx264(config: &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError> {
    open_backend(Backend::X264, config)
}

/// libx265 (HEVC software: Main, Main10, Main 4:4:4).
pub fn open_libx265(config: &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError> {
    open_backend(Backend::X265, config)
}

/// libaom-av1 in real-time mode (AV1 software, 4:2:0 / 10-bit / 4:4:4).
pub fn open_libaom_av1(config: &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError> {
    open_backend(Backend::AomAv1, config)
}

/// Encodes `count` frames from `frame(i)` as fast as `backend` allows — pipelined (packets may come out
/// late, the stream is drained at the end) — and returns frames per second, conversion included. This is
/// how the self-test measures backends that cannot run live (libsvtav1).
pub fn measure_throughput<'a>(
    backend: Backend,
    config: &EncoderConfig,
    count: u32,
    mut frame: impl FnMut(u32) -> RawFrame<'a>,
) -> Result<f64, MediaError> {
    crate::init()?;
    if backend.family() == Family::Vaapi {
        return Err(MediaError::Unsupported(
            "pipelined throughput runs software/NVENC backends only".into(),
        ));
    }
    let mut session = open_session(backend, config, None)?;
    let mut converter = Converter::new(
        PixelFormat::Bgrx,
        backend.input_layout(config.chroma),
        config.width,
        config.height,
        config.color,
        config.full_range,
        0,
    )?;
    let mut picture = converter.new_output();
    let mut packet = Packet::empty();
    let mut packets = 0u32;
    let started = Instant::now();
    let mut drain =
        |encoder: &mut ffmpeg_next::encoder::Video, packets: &mut u32| -> Result<(), MediaError> {
            loop {
                match encoder.receive_packet(&mut packet) {
                    Ok(()) => *packets += 1,
                    Err(ffmpeg_next::Error::Other { errno })
                        if errno == ffmpeg_next::util::error::EAGAIN =>
                    {
                        return Ok(());
                    }
                    Err(ffmpeg_next::Error::Eof) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        };
    for i in 0..count {
        converter.convert(&frame(i), &mut picture)?;
        picture.set_pts(Some(i64::from(i)));
        session.encoder.send_frame(&picture)?;
        drain(&mut session.encoder, &mut packets)?;
    }
    session.encoder.send_eof()?;
    drain(&mut session.encoder, &mut packets)?;
    let fps = f64::from(count) / started.elapsed().as_secs_f64().max(1e-9);
    if packets != count {
        return Err(MediaError::Unsupported(format!(
            "{backend} produced {packets} packets for {count} frames"
        )));
    }
    Ok(fps)
}

/// NVENC for `config.codec` (H.264 or HEVC).
pub fn open_nvenc(config: &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError> {
    let backend = Backend::of(Family::Nvenc, config.codec).ok_or_else(|| {
        MediaError::Unsupported(format!("NVENC {:?} in FFmpeg 5.1", config.codec))
    })?;
    open_backend(backend, config)
}

/// VAAPI for `config.codec` (H.264 or HEVC) on the probed render node.
pub fn open_vaapi(config: &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError> {
    let backend = Backend::of(Family::Vaapi, config.codec).ok_or_else(|| {
        MediaError::Unsupported(format!("VAAPI {:?} in FFmpeg 5.1", config.codec))
    })?;
    open_backend(backend, config)
}
