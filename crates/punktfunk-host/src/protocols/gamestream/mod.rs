//! GameStream, so stock Moonlight clients can use this host (`serve --gamestream`): the nvhttp
//! listeners, PIN pairing and the app list. The protocol itself (parsing, XML, the pairing state
//! machine) lives in `punktfunk_core::gamestream`; this module owns sockets, files and the waiting.

mod appasset;
mod apps;
mod audio_sender;
mod clients;
mod control_server;
mod identity;
mod input_bridge;
mod launch;
mod nvhttp_server;
mod pad_bridge;
mod pairing;
mod parked;
mod parking;
#[cfg(test)]
mod parking_tests;
mod routes;
mod rtsp_server;
mod session_end;
#[cfg(test)]
mod session_end_tests;
mod stream_caps;
mod stream_input;
mod stream_params;
mod stream_ports;
mod stream_session;
mod streaming;
mod teardown;
mod transport;
mod video_framer;
mod video_sender;
mod wake_on_lan;

use crate::shared::host_context::HostContext;
use anyhow::Result;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

pub use pairing::PairingDesk;

/// What every request handler shares.
pub struct Shared {
    pub host: Arc<HostContext>,
    pub identity: Arc<identity::GameStreamIdentity>,
    pub clients: Arc<clients::PairedClients>,
    pub pairing: Arc<PairingDesk>,
    pub http_port: u16,
    pub https_port: u16,
    /// RTSP, control, video and audio: what runs behind `/launch`.
    pub streaming: Arc<streaming::Streaming>,
}

/// A bound, not yet serving GameStream host.
pub struct GameStream {
    shared: Arc<Shared>,
    listeners: nvhttp_server::Listeners,
}

impl GameStream {
    /// Loads (or creates) the GameStream identity and paired clients from the config dir and binds
    /// the nvhttp ports: HTTP on `port_base`, HTTPS on `port_base − 5`.
    pub async fn bind(host: Arc<HostContext>, bind: IpAddr, port_base: u16) -> Result<GameStream> {
        let identity = Arc::new(identity::GameStreamIdentity::load_or_create(&host.dir)?);
        let clients = Arc::new(clients::PairedClients::load(
            &host.dir,
            host.paired.clone(),
            host.events.clone(),
        )?);
        let pairing = Arc::new(PairingDesk::new(identity.clone(), clients.clone()));
        let listeners = nvhttp_server::bind(bind, port_base).await?;
        let streaming = streaming::Streaming::bind(host.clone(), bind, port_base).await?;
        let shared = Arc::new(Shared {
            http_port: listeners.http_addr.port(),
            https_port: listeners.https_addr.port(),
            host,
            identity,
            clients,
            pairing,
            streaming,
        });
        Ok(GameStream { shared, listeners })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.listeners.http_addr
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.listeners.https_addr
    }

    /// Logs the ports and prints the machine-readable `GAMESTREAM http=ADDR https=ADDR` line on stdout.
    pub fn announce(&self) {
        let (http, https) = (self.http_addr(), self.https_addr());
        tracing::info!(%http, %https, "GameStream (Moonlight) nvhttp listening");
        crate::services::status_line::status_line!("GAMESTREAM http={http} https={https}");
    }

    /// Where Moonlight PINs typed into the console, API or CLI go.
    pub fn pin_sink(&self) -> Arc<PairingDesk> {
        self.shared.pairing.clone()
    }

    /// Serves until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) -> Result<()> {
        let streaming = tokio::spawn(serve_streaming(self.shared.streaming.clone(), stop.clone()));
        let served = nvhttp_server::run(self.listeners, self.shared, stop).await;
        streaming.await??;
        served
    }
}

/// Serves RTSP and the control stream until `stop` turns true; ends a running session then. Here,
/// above both, so that streaming and the RTSP server (which uses it) do not depend on each other.
async fn serve_streaming(
    streaming: Arc<streaming::Streaming>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let (listener, control) = streaming.open()?;
    let result = rtsp_server::run(listener, streaming.clone(), stop).await;
    streaming.close(control).await;
    result
}
