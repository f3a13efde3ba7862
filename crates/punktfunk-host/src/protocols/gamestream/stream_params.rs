//! What a GameStream stream is set up with, shared by every part of it: the launch request (app,
//! mode, keys, client), the ANNOUNCE's parameters, the refusals a launch can meet, and the numbers
//! derived from them (bitrate, FEC). Plain data at the bottom of the module graph, so the session,
//! the senders, RTSP, control and nvhttp can all use it without depending on each other.

use super::apps::GameStreamApp;
use punktfunk_core::control::color::HdrMetadata;
use punktfunk_core::gamestream::control::{self, HostMessage};
use punktfunk_core::gamestream::nvhttp;
use punktfunk_core::gamestream::sdp::StreamParams;
use std::net::IpAddr;

/// Parity as a share of each FEC block's data shards (the video sender sends with it, the session
/// list reports it).
pub const FEC_PERCENT: u8 = 20;

/// What `/launch` carries that streaming needs.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    pub app: GameStreamApp,
    /// The paired-device id of the client certificate.
    pub client_id: Option<String>,
    pub client_name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub rikey: [u8; 16],
    pub rikeyid: i32,
    /// `corever ≥ 1`: RTSP runs inside the `rtspenc` envelope.
    pub encrypted_rtsp: bool,
    /// The host address the HTTPS request arrived on (the RTSP URL points there).
    pub local_ip: IpAddr,
    /// The client that launched: only this address may speak RTSP for the session, connect its
    /// control stream or receive its video and audio (IPv4-mapped IPv6 already unwrapped).
    pub client_ip: IpAddr,
}

impl LaunchRequest {
    /// Picks what streaming needs out of an nvhttp `/launch`; `None` mode = 1280×720@60.
    pub fn from_nvhttp(
        app: GameStreamApp,
        request: &nvhttp::LaunchRequest,
        client_id: Option<String>,
        local_ip: IpAddr,
        client_ip: IpAddr,
    ) -> Self {
        let mode = request.mode.as_ref();
        LaunchRequest {
            app,
            client_id,
            client_name: request
                .common
                .unique_id
                .clone()
                .unwrap_or_else(|| "Moonlight".into()),
            width: mode.map_or(1280, |m| m.width),
            height: mode.map_or(720, |m| m.height),
            fps: mode.map_or(60, |m| m.fps),
            rikey: request.rikey,
            rikeyid: request.rikeyid,
            encrypted_rtsp: request.wants_encrypted_rtsp(),
            local_ip,
            client_ip: canonical_ip(client_ip),
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into the IPv4 one: a dual-stack socket reports a
/// v4 client as `::ffff:a.b.c.d` on one port and as `a.b.c.d` on another.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `peer` is the client that launched `request`.
pub fn is_launching_client(request: &LaunchRequest, peer: IpAddr) -> bool {
    canonical_ip(peer) == request.client_ip
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0} is already running; quit it first")]
    Busy(String),
    #[error("nothing is running that could be resumed")]
    NothingToResume,
    #[error("{0}")]
    Limit(#[from] crate::services::stream_limits::StreamLimitError),
    #[error("the launch key is unusable: {0}")]
    Cipher(String),
    #[error("{0} belongs to another client; quit it there or from the host's console")]
    NotYours(String),
}

impl LaunchError {
    /// The nvhttp status code for this refusal.
    pub fn status_code(&self) -> u16 {
        match self {
            LaunchError::Busy(_) | LaunchError::Limit(_) => 400,
            LaunchError::NotYours(_) => 403,
            LaunchError::NothingToResume => 503,
            LaunchError::Cipher(_) => 500,
        }
    }
}

/// The part of a session that exists only after the client's ANNOUNCE.
pub struct Announced {
    pub params: StreamParams,
    /// The ANNOUNCE's `Host` header (decides stereo quality).
    pub host_header: Option<String>,
    /// HDR10 metadata of the source opened for it (BT.2020 PQ); `None`: SDR BT.709.
    pub hdr: Option<HdrMetadata>,
}

impl Announced {
    /// The control message that tells a client which asked for HDR (`dynamicRangeMode` 1) whether
    /// the stream is HDR, with its mastering metadata; `None` to a client that did not ask (it
    /// expects no such message). An SDR source streams 10-bit BT.709: HDR off.
    pub fn hdr_mode(&self) -> Option<HostMessage> {
        if !self.params.hdr {
            return None;
        }
        Some(HostMessage::HdrMode {
            enabled: self.hdr.is_some(),
            metadata: self.hdr.map(gamestream_hdr).unwrap_or_default(),
        })
    }
}

/// GameStream's units for HDR10 metadata: display luminance in whole cd/m², the minimum in
/// 0.0001 cd/m² as a 16-bit value.
fn gamestream_hdr(m: HdrMetadata) -> control::HdrMetadata {
    control::HdrMetadata {
        display_primaries: m.primaries,
        white_point: m.white_point,
        max_display_luminance: u16::try_from(m.max_luminance / 10_000).unwrap_or(u16::MAX),
        min_display_luminance: u16::try_from(m.min_luminance).unwrap_or(u16::MAX),
        max_content_light_level: m.max_cll,
        max_frame_average_light_level: m.max_fall,
        // A virtual source has no panel that dims full-white frames: the brightest frame average
        // it produces is what it needs.
        max_full_frame_luminance: m.max_fall,
    }
}
/// The video bitrate (kbit/s) a stream is encoded at: the client's configured one, else its
/// maximum, within what the encoders here handle.
pub fn bitrate_kbps(params: &StreamParams) -> u32 {
    params
        .configured_bitrate_kbps
        .unwrap_or(params.max_bitrate_kbps)
        .clamp(500, 150_000)
}
