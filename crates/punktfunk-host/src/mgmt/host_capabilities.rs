//! What this host can do: encoders that really open, GPUs, the compositor detected and in use —
//! the model `GET /capabilities` answers with, and the one-time hardware probe behind it.

use punktfunk_media::encode::{Backend, FfmpegEncoder, GpuInventory};
use punktfunk_media::{ChromaFormat, ColorSpace, EncoderConfig};
use serde::Serialize;

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct EncoderCapability {
    /// FFmpeg encoder name, e.g. `libx264`, `h264_nvenc`.
    pub name: String,
    /// `h264`, `hevc` or `av1`.
    pub codec: String,
    pub hardware: bool,
    /// It opened on this machine.
    pub available: bool,
    /// Usable for live sessions (some encoders open but buffer frames).
    pub live: bool,
    /// Why it is unavailable or not live.
    pub reason: Option<String>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ActiveCompositor {
    pub kind: String,
    pub version: String,
    pub private: bool,
    pub custom_modes: bool,
    pub removes_outputs: bool,
    /// Capture methods, best first.
    pub capture: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct CompositorCapability {
    /// What detection finds in the host's environment.
    pub detected: String,
    /// The evidence for it.
    pub reason: String,
    /// The backend sessions use; null when only test sources are served.
    pub active: Option<ActiveCompositor>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    pub encoders: Vec<EncoderCapability>,
    /// Render nodes found, e.g. `renderD128 (Intel, i915)`.
    pub gpus: Vec<String>,
    pub compositor: CompositorCapability,
}

/// Opens every encoder backend once at 640×360@60; the compositor part is filled per request.
pub fn probe_hardware() -> Capabilities {
    let init = punktfunk_media::init();
    let encoders = Backend::ALL
        .into_iter()
        .map(|backend| {
            let opened = match &init {
                Err(e) => Err(e.to_string()),
                Ok(()) => FfmpegEncoder::open(backend, &probe_config(backend))
                    .map(drop)
                    .map_err(|e| e.to_string()),
            };
            let limitation = backend.live_limitation();
            EncoderCapability {
                name: backend.ffmpeg_name().into(),
                codec: format!("{:?}", backend.codec()).to_ascii_lowercase(),
                hardware: backend.is_hardware(),
                available: opened.is_ok(),
                live: opened.is_ok() && limitation.is_none(),
                reason: opened.err().or(limitation.map(str::to_string)),
            }
        })
        .collect();
    let gpus = GpuInventory::probe()
        .render_nodes
        .iter()
        .map(|d| {
            format!(
                "{} ({}, {})",
                d.name,
                d.vendor_name(),
                d.driver.as_deref().unwrap_or("no driver")
            )
        })
        .collect();
    Capabilities {
        encoders,
        gpus,
        compositor: CompositorCapability {
            detected: String::new(),
            reason: String::new(),
            active: None,
        },
    }
}

fn probe_config(backend: Backend) -> EncoderConfig {
    EncoderConfig {
        codec: backend.codec(),
        width: 640,
        height: 360,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 2_000,
        chroma: ChromaFormat::Yuv420,
        color: ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    }
}
