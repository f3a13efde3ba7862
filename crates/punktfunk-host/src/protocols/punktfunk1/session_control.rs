//! What the control plane changes while a punktfunk/1 session runs (bitrate, keyframe requests,
//! FEC parity, stop, the client's data address) and the data plane, the video framer and the audio
//! sender read: one shared, lock-free-where-it-matters handle per session.

use crate::stream::StreamControl;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

/// What the control plane changes while a session runs; the sender reads it once per frame.
pub struct SessionControl {
    /// Bitrate, keyframe requests and what the video pipeline reports.
    pub video: StreamControl,
    pub parity_percent: AtomicU32,
    pub stop: AtomicBool,
    /// Client data address, learned from its registration datagrams.
    pub client_addr: Mutex<Option<SocketAddr>>,
}

impl SessionControl {
    pub fn new(bitrate_kbps: u32, parity_percent: u16) -> Arc<Self> {
        Arc::new(SessionControl {
            video: StreamControl::new(bitrate_kbps),
            parity_percent: AtomicU32::new(u32::from(parity_percent)),
            stop: AtomicBool::new(false),
            client_addr: Mutex::new(None),
        })
    }
}
