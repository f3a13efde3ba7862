//! Opus through libopus's multistream API, for every layout (a one-stream "multistream" packet is a
//! plain Opus packet, so stereo and mono need no second code path). The unsafe FFI is confined here;
//! the host's encoder and the probe's decoder and microphone build on these two types.
// Needs `unsafe` for libopus FFI; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use audiopus_sys as ffi;
use punktfunk_core::audio::layout::{Layout, MultistreamConfig};
use std::os::raw::c_int;
use std::ptr::NonNull;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpusError {
    #[error("{0} channels is not a layout Opus is set up for here (1, 2, 6 or 8)")]
    Channels(u8),
    #[error("libopus: {what} failed with code {code}")]
    Lib { what: &'static str, code: i32 },
    #[error("PCM buffer of {got} samples, expected {want}")]
    Pcm { got: usize, want: usize },
}

fn check(what: &'static str, code: c_int) -> Result<c_int, OpusError> {
    if code < 0 {
        Err(OpusError::Lib { what, code })
    } else {
        Ok(code)
    }
}

/// Encoder tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Samples per channel in one packet (240 = 5 ms at 48 kHz).
    pub frame_samples: usize,
    pub bitrate_bps: i32,
    /// Constant bitrate (GameStream wants it); otherwise constrained VBR.
    pub cbr: bool,
}

/// An Opus multistream encoder in CELT-only restricted-low-delay mode.
pub struct Encoder {
    st: NonNull<ffi::OpusMSEncoder>,
    channels: usize,
    frame_samples: usize,
}

// SAFETY: the encoder state is plain memory owned by this value; libopus keeps no thread-local or
// global state for it, so moving it to another thread is sound (it is not shared: no Sync).
unsafe impl Send for Encoder {}

impl Encoder {
    pub fn new(layout: Layout, sample_rate: u32, s: EncoderSettings) -> Result<Self, OpusError> {
        Self::with_multistream(layout, &layout.multistream(), sample_rate, s)
    }

    /// An encoder whose streams are split as `ms` says (GameStream's high-quality surround codes
    /// every channel as its own stream) instead of the layout's default split.
    pub fn with_multistream(
        layout: Layout,
        ms: &MultistreamConfig,
        sample_rate: u32,
        s: EncoderSettings,
    ) -> Result<Self, OpusError> {
        let channels = usize::from(layout.channels());
        let decoded = usize::from(ms.streams) + usize::from(ms.coupled);
        if ms.mapping.len() != channels
            || ms.coupled > ms.streams
            || ms.mapping.iter().any(|&m| usize::from(m) >= decoded)
        {
            return Err(OpusError::Lib {
                what: "encoder create (mapping does not fit the layout)",
                code: ffi::OPUS_BAD_ARG,
            });
        }
        let mut err: c_int = 0;
        // SAFETY: `mapping` has exactly `channels` entries and outlives the call; `err` is a valid
        // out-pointer. libopus copies the mapping.
        let raw = unsafe {
            ffi::opus_multistream_encoder_create(
                sample_rate as i32,
                c_int::from(layout.channels()),
                c_int::from(ms.streams),
                c_int::from(ms.coupled),
                ms.mapping.as_ptr(),
                ffi::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
                &mut err,
            )
        };
        check("encoder create", err)?;
        let st = NonNull::new(raw).ok_or(OpusError::Lib {
            what: "encoder create",
            code: ffi::OPUS_ALLOC_FAIL,
        })?;
        let enc = Encoder {
            st,
            channels: usize::from(layout.channels()),
            frame_samples: s.frame_samples,
        };
        enc.ctl("set bitrate", ffi::OPUS_SET_BITRATE_REQUEST, s.bitrate_bps)?;
        enc.ctl("set vbr", ffi::OPUS_SET_VBR_REQUEST, c_int::from(!s.cbr))?;
        enc.ctl(
            "set vbr constraint",
            ffi::OPUS_SET_VBR_CONSTRAINT_REQUEST,
            1,
        )?;
        enc.ctl(
            "set signal",
            ffi::OPUS_SET_SIGNAL_REQUEST,
            ffi::OPUS_SIGNAL_MUSIC,
        )?;
        enc.ctl("set complexity", ffi::OPUS_SET_COMPLEXITY_REQUEST, 5)?;
        Ok(enc)
    }

    fn ctl(&self, what: &'static str, request: i32, value: c_int) -> Result<(), OpusError> {
        // SAFETY: `st` is a live encoder; every request used here takes exactly one `int` argument.
        let code = unsafe { ffi::opus_multistream_encoder_ctl(self.st.as_ptr(), request, value) };
        check(what, code).map(drop)
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Encodes one packet of interleaved PCM (`frame_samples × channels` samples) into `out`,
    /// returning the packet length.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, OpusError> {
        let want = self.frame_samples * self.channels;
        if pcm.len() != want {
            return Err(OpusError::Pcm {
                got: pcm.len(),
                want,
            });
        }
        // SAFETY: `pcm` holds `frame_samples` interleaved frames of `channels` samples; `out` is
        // writable for `out.len()` bytes, which is what libopus is told.
        let n = unsafe {
            ffi::opus_multistream_encode_float(
                self.st.as_ptr(),
                pcm.as_ptr(),
                self.frame_samples as c_int,
                out.as_mut_ptr(),
                out.len().min(i32::MAX as usize) as i32,
            )
        };
        check("encode", n).map(|n| n as usize)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_multistream_encoder_create, destroyed exactly once.
        unsafe { ffi::opus_multistream_encoder_destroy(self.st.as_ptr()) }
    }
}

/// An Opus multistream decoder for one layout.
pub struct Decoder {
    st: NonNull<ffi::OpusMSDecoder>,
    channels: usize,
}

// SAFETY: as for the encoder: owned plain memory, no thread affinity, not shared.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new(layout: Layout, sample_rate: u32) -> Result<Self, OpusError> {
        let ms = layout.multistream();
        let mut err: c_int = 0;
        // SAFETY: as for the encoder: a mapping of `channels` entries and a valid out-pointer.
        let raw = unsafe {
            ffi::opus_multistream_decoder_create(
                sample_rate as i32,
                c_int::from(layout.channels()),
                c_int::from(ms.streams),
                c_int::from(ms.coupled),
                ms.mapping.as_ptr(),
                &mut err,
            )
        };
        check("decoder create", err)?;
        let st = NonNull::new(raw).ok_or(OpusError::Lib {
            what: "decoder create",
            code: ffi::OPUS_ALLOC_FAIL,
        })?;
        Ok(Decoder {
            st,
            channels: usize::from(layout.channels()),
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet (or conceals a lost one: `None`) into `out`, whose length sets the most
    /// samples per channel accepted; returns samples per channel written. A concealed packet is as
    /// long as `out` allows, so size `out` to one packet.
    pub fn decode(&mut self, packet: Option<&[u8]>, out: &mut [f32]) -> Result<usize, OpusError> {
        let frames = out.len() / self.channels;
        let (ptr, len) = match packet {
            Some(p) => (p.as_ptr(), p.len().min(i32::MAX as usize) as i32),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `ptr`/`len` describe a readable packet (or null/0 for concealment); `out` has
        // room for `frames × channels` samples, which is what libopus is told.
        let n = unsafe {
            ffi::opus_multistream_decode_float(
                self.st.as_ptr(),
                ptr,
                len,
                out.as_mut_ptr(),
                frames as c_int,
                0,
            )
        };
        check("decode", n).map(|n| n as usize)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_multistream_decoder_create, destroyed exactly once.
        unsafe { ffi::opus_multistream_decoder_destroy(self.st.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};

    fn settings() -> EncoderSettings {
        EncoderSettings {
            frame_samples: FRAME_SAMPLES,
            bitrate_bps: 96_000,
            cbr: false,
        }
    }

    #[test]
    fn concealment_and_bad_input() {
        let mut dec = Decoder::new(Layout::Stereo, SAMPLE_RATE).unwrap();
        let mut out = vec![0f32; FRAME_SAMPLES * 2];
        assert_eq!(dec.decode(None, &mut out).unwrap(), FRAME_SAMPLES);
        assert!(dec.decode(Some(&[0xff; 3]), &mut out).is_err());
        let mut enc = Encoder::new(Layout::Stereo, SAMPLE_RATE, settings()).unwrap();
        assert!(matches!(
            enc.encode(&[0.0; 10], &mut [0u8; 100]),
            Err(OpusError::Pcm { .. })
        ));
    }
}
