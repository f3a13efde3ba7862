//! What every API handler gets: the host's shared context plus the API's own parts.

use crate::mgmt::auth::Auth;
use crate::mgmt::host_capabilities::Capabilities;
use crate::mgmt::logbuf::LogBuffer;
use crate::shared::host_context::HostContext;
use crate::shared::moonlight_pairing::MoonlightPinSink;
use anyhow::Result;
use serde::Serialize;
use std::sync::{Arc, Mutex, PoisonError};

/// Where the host listens (known only once each listener is bound).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema, PartialEq)]
pub struct Ports {
    /// punktfunk/1 QUIC control plane (UDP).
    pub punktfunk1_quic: Option<u16>,
    /// punktfunk/1 data plane (UDP).
    pub punktfunk1_data: Option<u16>,
    /// This API and the web console (HTTPS).
    pub api: Option<u16>,
    /// GameStream nvhttp (HTTP) when GameStream runs.
    pub gamestream_http: Option<u16>,
}

#[derive(Clone)]
pub struct ApiState {
    pub host: Arc<HostContext>,
    pub auth: Arc<Auth>,
    /// The GameStream host's PIN intake; `None` when GameStream is not running.
    pub moonlight: Option<Arc<dyn MoonlightPinSink>>,
    pub logs: LogBuffer,
    ports: Arc<Mutex<Ports>>,
    /// Probed once, on first request (opening every encoder takes a moment).
    pub(crate) capabilities: Arc<tokio::sync::OnceCell<Capabilities>>,
    /// Turns true when the server starts shutting down: endless responses (the event stream) end.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiState {
    /// Loads the API's secrets from the host's config dir (creating the admin token on first start).
    pub fn new(
        host: Arc<HostContext>,
        moonlight: Option<Arc<dyn MoonlightPinSink>>,
        logs: LogBuffer,
    ) -> Result<ApiState> {
        let auth = Arc::new(Auth::load(&host.dir)?);
        logs.attach(host.events.clone());
        Ok(ApiState {
            host,
            auth,
            moonlight,
            logs,
            ports: Arc::default(),
            capabilities: Arc::default(),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        })
    }

    pub fn ports(&self) -> Ports {
        self.ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn begin_closing(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the server is shutting down.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|&c| c).await;
        }
    }

    /// Records where a listener ended up (port 0 in settings means "any").
    pub fn update_ports(&self, change: impl FnOnce(&mut Ports)) {
        change(&mut self.ports.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
