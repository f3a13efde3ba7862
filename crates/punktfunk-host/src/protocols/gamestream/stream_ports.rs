//! The streaming ports of a GameStream host, at fixed offsets from the nvhttp base port (Moonlight
//! derives them from it): RTSP on TCP, video, control and audio on UDP. Bound once at start-up,
//! before anything streams, so a port conflict stops the host instead of a later launch.

use anyhow::{Context, Result};
use std::net::{IpAddr, UdpSocket};
use tokio::net::TcpListener;

/// Port offsets from the GameStream base (the HTTP port).
pub const VIDEO_OFFSET: u16 = 9;
pub const CONTROL_OFFSET: u16 = 10;
pub const AUDIO_OFFSET: u16 = 11;
pub const RTSP_OFFSET: u16 = 21;

/// The bound streaming sockets.
pub struct StreamPorts {
    pub rtsp: TcpListener,
    pub video: UdpSocket,
    pub audio: UdpSocket,
    pub control: UdpSocket,
}

/// Binds RTSP (TCP base+21), video (UDP base+9), control (UDP base+10) and audio (UDP base+11).
pub async fn bind(bind: IpAddr, base: u16) -> Result<StreamPorts> {
    let port = |offset: u16| {
        base.checked_add(offset)
            .with_context(|| format!("GameStream port base {base} + {offset} overflows"))
    };
    let rtsp_port = port(RTSP_OFFSET)?;
    let rtsp = TcpListener::bind((bind, rtsp_port))
        .await
        .with_context(|| format!("binding GameStream RTSP on port {rtsp_port}"))?;
    let udp = |offset: u16| -> Result<UdpSocket> {
        let p = port(offset)?;
        UdpSocket::bind((bind, p)).with_context(|| format!("binding GameStream UDP port {p}"))
    };
    Ok(StreamPorts {
        rtsp,
        video: udp(VIDEO_OFFSET)?,
        audio: udp(AUDIO_OFFSET)?,
        control: udp(CONTROL_OFFSET)?,
    })
}
