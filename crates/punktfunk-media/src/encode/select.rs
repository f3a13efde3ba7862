//! Run-time encoder selection: probe the GPUs, try the hardware backends that fit by actually opening a
//! session, and fall back to the software encoder for the codec — with one log line saying what was
//! chosen, what was tried and why each failed.

use std::time::Instant;

use super::Encoder;
use super::backend::{Backend, Family};
use super::ffmpeg_backend::FfmpegEncoder;
use super::probe::GpuInventory;
use crate::{EncoderConfig, MediaError};

/// One backend considered during selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub backend: Backend,
    /// `true` if the backend was not opened because the probe or its capabilities ruled it out.
    pub skipped: bool,
    /// Why it was skipped or failed to open; `None` for the backend that opened.
    pub error: Option<String>,
}

/// How an encoder was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub chosen: Backend,
    /// The `--encoder` value, if one was given.
    pub forced: Option<String>,
    /// Every backend considered, in order, ending with the chosen one.
    pub attempts: Vec<Attempt>,
    pub gpus: GpuInventory,
}

impl Selection {
    /// Whether anything was tried (or ruled out) before the chosen backend.
    pub fn fell_back(&self) -> bool {
        self.attempts.iter().any(|a| a.error.is_some())
    }

    /// The failed or skipped backends with their reasons, e.g. `h264_nvenc failed: …; h264_vaapi skipped: …`.
    pub fn reasons(&self) -> String {
        describe(&self.attempts)
    }
}

fn describe(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .filter_map(|a| {
            a.error.as_ref().map(|e| {
                format!(
                    "{} {}: {e}",
                    a.backend,
                    if a.skipped { "skipped" } else { "failed" }
                )
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What `--encoder` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Auto,
    Family(Family),
    Exact(Backend),
}

fn parse_request(force: Option<&str>, config: &EncoderConfig) -> Result<Request, MediaError> {
    let Some(raw) = force.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Request::Auto);
    };
    let lower = raw.to_ascii_lowercase();
    let request = match lower.as_str() {
        "auto" => Request::Auto,
        "software" | "sw" | "cpu" => Request::Family(Family::Software),
        "nvenc" | "nvidia" => Request::Family(Family::Nvenc),
        "vaapi" => Request::Family(Family::Vaapi),
        _ => match Backend::from_name(&lower) {
            Some(b) if b.codec() != config.codec => {
                return Err(MediaError::Unsupported(format!(
                    "--encoder {raw} encodes {:?} but this session uses {:?}",
                    b.codec(),
                    config.codec
                )));
            }
            Some(b) => Request::Exact(b),
            None => {
                let known: Vec<&str> = Backend::ALL.iter().map(|b| b.ffmpeg_name()).collect();
                return Err(MediaError::Unsupported(format!(
                    "unknown encoder {raw:?} (known: auto, software, nvenc, vaapi, {})",
                    known.join(", ")
                )));
            }
        },
    };
    Ok(request)
}

/// A backend to try, or a reason it is ruled out without trying.
type Plan = Vec<(Backend, Option<String>)>;

fn plan(config: &EncoderConfig, request: Request, gpus: &GpuInventory) -> Plan {
    let software = Backend::software_for(config.codec);
    let probe_reason = |b: Backend| -> Option<String> {
        match b.family() {
            Family::Nvenc => gpus.nvenc_unavailable(),
            Family::Vaapi => gpus.vaapi_node().err(),
            Family::Software => None,
        }
    };
    let mut plan = Plan::new();
    match request {
        Request::Exact(b) => {
            // Forced: always really tried (the FFmpeg error is the most useful reason), then software.
            plan.push((b, b.chroma_limitation(config.chroma).map(str::to_string)));
        }
        Request::Family(Family::Software) => {}
        Request::Family(family) => match Backend::of(family, config.codec) {
            Some(b) => plan.push((b, b.chroma_limitation(config.chroma).map(str::to_string))),
            None => plan.push((software, None)),
        },
        Request::Auto => {
            for family in [Family::Nvenc, Family::Vaapi] {
                if let Some(b) = Backend::of(family, config.codec) {
                    let reason = b
                        .chroma_limitation(config.chroma)
                        .map(str::to_string)
                        .or_else(|| probe_reason(b));
                    plan.push((b, reason));
                }
            }
        }
    }
    if !plan.iter().any(|(b, _)| *b == software) {
        plan.push((software, None));
    }
    plan
}

/// Chooses and opens an encoder for `config`. `force` is the `--encoder` value: `auto` (or `None`),
/// `software`, `nvenc`, `vaapi`, or an FFmpeg encoder name (`libx264`, `hevc_nvenc`, …). A forced hardware
/// backend that fails to open falls back to software, with the reason logged.
pub fn open_encoder(
    config: &EncoderConfig,
    force: Option<&str>,
) -> Result<Box<dyn Encoder>, MediaError> {
    open_encoder_with_report(config, force).map(|(encoder, _)| encoder)
}

/// [`open_encoder`], also returning how the encoder was chosen.
pub fn open_encoder_with_report(
    config: &EncoderConfig,
    force: Option<&str>,
) -> Result<(Box<dyn Encoder>, Selection), MediaError> {
    select_with(config, force, GpuInventory::probe(), |backend, config| {
        FfmpegEncoder::open(backend, config).map(|e| Box::new(e) as Box<dyn Encoder>)
    })
}

/// Selection against a given inventory and opener (the seam tests use).
pub(crate) fn select_with<F>(
    config: &EncoderConfig,
    force: Option<&str>,
    gpus: GpuInventory,
    mut open: F,
) -> Result<(Box<dyn Encoder>, Selection), MediaError>
where
    F: FnMut(Backend, &EncoderConfig) -> Result<Box<dyn Encoder>, MediaError>,
{
    let request = parse_request(force, config)?;
    let started = Instant::now();
    let mut attempts = Vec::new();
    for (backend, ruled_out) in plan(config, request, &gpus) {
        if let Some(reason) = ruled_out {
            attempts.push(Attempt {
                backend,
                skipped: true,
                error: Some(reason),
            });
            continue;
        }
        match open(backend, config) {
            Ok(encoder) => {
                attempts.push(Attempt {
                    backend,
                    skipped: false,
                    error: None,
                });
                let selection = Selection {
                    chosen: backend,
                    forced: force.map(str::to_string),
                    attempts,
                    gpus,
                };
                let how = match (&selection.forced, selection.fell_back()) {
                    (Some(f), true) => format!("--encoder {f} did not open, fell back"),
                    (Some(f), false) => format!("forced by --encoder {f}"),
                    (None, true) => "auto-selected after hardware was ruled out".to_string(),
                    (None, false) => "auto-selected".to_string(),
                };
                tracing::info!(
                    "video encoder: {backend} for {:?} {:?} {}x{}@{}/{} {} kbit/s ({how}; {} ms){}{}",
                    config.codec,
                    config.chroma,
                    config.width,
                    config.height,
                    config.fps_num,
                    config.fps_den,
                    config.bitrate_kbps,
                    started.elapsed().as_millis(),
                    if selection.fell_back() {
                        "; tried: "
                    } else {
                        ""
                    },
                    selection.reasons(),
                );
                tracing::debug!(gpus = %selection.gpus.summary(), "encoder selection GPU inventory");
                return Ok((encoder, selection));
            }
            Err(e) => attempts.push(Attempt {
                backend,
                skipped: false,
                error: Some(e.to_string()),
            }),
        }
    }
    let tried = describe(&attempts);
    tracing::error!(codec = ?config.codec, chroma = ?config.chroma, gpus = %gpus.summary(), "no video encoder could be opened; tried: {tried}");
    Err(MediaError::NoEncoder {
        codec: config.codec,
        chroma: config.chroma,
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChromaFormat, ColorSpace, VideoCodec};

    fn config(codec: VideoCodec) -> EncoderConfig {
        EncoderConfig {
            codec,
            width: 1280,
            height: 720,
            fps_num: 60,
            fps_den: 1,
            bitrate_kbps: 5_000,
            chroma: ChromaFormat::Yuv420,
            color: ColorSpace::Bt709,
            full_range: false,
            hdr: None,
            intra_refresh: false,
        }
    }

    #[test]
    fn forced_nvenc_falls_back_to_x264_with_reason() {
        let (encoder, selection) =
            open_encoder_with_report(&config(VideoCodec::H264), Some("h264_nvenc"))
                .expect("fallback");
        assert_eq!(encoder.name(), "libx264");
        assert_eq!(selection.chosen, Backend::X264);
        assert!(selection.fell_back());
        let first = &selection.attempts[0];
        assert_eq!(first.backend, Backend::NvencH264);
        assert!(!first.skipped, "a forced backend is really tried");
        assert!(
            first.error.as_deref().is_some_and(|e| !e.is_empty()),
            "{first:?}"
        );
        assert!(
            selection.reasons().starts_with("h264_nvenc failed: "),
            "{}",
            selection.reasons()
        );
    }

    #[test]
    fn forced_vaapi_falls_back_to_x265() {
        let (encoder, selection) =
            open_encoder_with_report(&config(VideoCodec::Hevc), Some("vaapi")).expect("fallback");
        assert_eq!(encoder.name(), "libx265");
        assert_eq!(selection.attempts[0].backend, Backend::VaapiHevc);
        assert!(selection.attempts[0].error.is_some());
    }

    #[test]
    fn auto_on_a_gpu_less_machine_records_why_hardware_was_skipped() {
        let root =
            std::env::temp_dir().join(format!("punktfunk-select-empty-{}", std::process::id()));
        let gpus = GpuInventory::probe_at(&root);
        let mut opened = Vec::new();
        let (_, selection) = select_with(&config(VideoCodec::H264), None, gpus, |b, c| {
            opened.push(b);
            FfmpegEncoder::open(b, c).map(|e| Box::new(e) as Box<dyn Encoder>)
        })
        .expect("software");
        assert_eq!(
            opened,
            [Backend::X264],
            "hardware ruled out by the probe is not opened"
        );
        assert_eq!(selection.chosen, Backend::X264);
        let reasons = selection.reasons();
        assert!(
            reasons.contains("h264_nvenc skipped: no NVIDIA GPU"),
            "{reasons}"
        );
        assert!(
            reasons.contains("h264_vaapi skipped: no DRM render node"),
            "{reasons}"
        );
    }

    #[test]
    fn requests_are_validated() {
        let c = config(VideoCodec::H264);
        assert!(matches!(
            parse_request(Some("libx265"), &c),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(
            parse_request(Some("bogus"), &c),
            Err(MediaError::Unsupported(_))
        ));
        assert_eq!(parse_request(Some(" Auto "), &c).ok(), Some(Request::Auto));
        assert_eq!(
            parse_request(Some("x264"), &c).ok(),
            Some(Request::Exact(Backend::X264))
        );
        // AV1 has no NVENC encoder in FFmpeg 5.1: the family request degrades to software.
        let av1 = config(VideoCodec::Av1);
        let p = plan(
            &av1,
            Request::Family(Family::Nvenc),
            &GpuInventory::default(),
        );
        assert_eq!(p, vec![(Backend::AomAv1, None)]);
    }

    #[test]
    fn nothing_fits_is_a_clear_error() {
        let mut c = config(VideoCodec::H264);
        c.width = 1279;
        let err = open_encoder(&c, Some("vaapi"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("no encoder could be opened for H264 Yuv420"),
            "{err}"
        );
        assert!(err.contains("h264_vaapi failed: "), "{err}");
        assert!(
            err.contains(
                "libx264 failed: encoder libx264 could not be opened: 4:2:0 needs even dimensions"
            ),
            "{err}"
        );
    }

    #[test]
    fn svtav1_is_never_chosen_and_forcing_it_falls_back() {
        let (encoder, selection) =
            open_encoder_with_report(&config(VideoCodec::Av1), Some("libsvtav1"))
                .expect("fallback");
        assert_eq!(encoder.name(), "libaom-av1");
        assert!(
            selection.reasons().contains("one frame late"),
            "{}",
            selection.reasons()
        );
    }
}
