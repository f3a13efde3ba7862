//! `punktfunk-host serve` (and `punktfunk1-host`): settings → compositor backend → PipeWire (the
//! session's, or a private one on a bare machine) → host context → punktfunk/1 listener, management
//! API and mDNS, all stopped together on SIGINT/SIGTERM.

use crate::app::serve_args::{ListenArgs, listener_config};
use crate::platform::vdisplay;
use crate::protocols::punktfunk1::{Listener, SourceKind};
use crate::services::settings::SettingsStore;
use crate::shared::host_context::HostContext;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// Which frames sessions get.
pub enum Sources {
    /// Each client's own display when a compositor backend opens; the test sources otherwise.
    Auto,
    /// Exactly this source; `Display` fails when no compositor backend opens.
    Only(SourceKind),
}

/// What else runs beside the punktfunk/1 listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `serve`: the management API and console, and a private PipeWire on a bare machine.
    Full,
    /// `punktfunk1-host`, the bare native listener (tests run many side by side): neither.
    NativeOnly,
}

pub fn run(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    args: &ListenArgs,
    sources: Sources,
    role: Role,
) -> Result<()> {
    let with_api = role == Role::Full;
    let settings = SettingsStore::load(dir, args.overrides())?;
    let effective = settings.get();
    let compositor = effective.compositor.as_deref();
    let (kind, displays) = match sources {
        Sources::Only(SourceKind::Virtual) => (SourceKind::Virtual, None),
        Sources::Only(SourceKind::Display) => (
            SourceKind::Display,
            Some(Arc::from(vdisplay::open(compositor)?)),
        ),
        Sources::Auto => match vdisplay::open(compositor) {
            Ok(backend) => (SourceKind::Display, Some(Arc::from(backend))),
            Err(e) => {
                tracing::warn!("no virtual displays ({e:#}); serving the test sources instead");
                (SourceKind::Virtual, None)
            }
        },
    };
    // Audio: the session's PipeWire, or on a bare machine our own (stopped when this returns).
    let _pipewire = with_api.then(crate::platform::audio::host_pipewire::HostPipewire::open);
    let host = HostContext::load(dir, settings, displays)?;
    runtime.block_on(serve(host, kind, args.arm_pin, with_api))
}

async fn serve(
    host: Arc<HostContext>,
    kind: SourceKind,
    arm_pin: bool,
    with_api: bool,
) -> Result<()> {
    let signals = ShutdownSignals::install();
    let settings = host.settings.get();
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = Listener::bind(listener_config(&settings, kind), host.clone())?;
    if let Err(e) = host.library.clone().keep_fresh(stop_rx.clone()) {
        tracing::warn!("the game library will not update while the host runs: {e}");
    }
    if arm_pin {
        // After the READY line: scripts read that first.
        let armed = host.native_pairing.arm();
        host.events
            .publish(crate::services::events::HostEvent::PairingArmed {
                expires_in_secs: armed.expires_in_secs,
            });
    }
    // GameStream only when asked for: bare `serve` opens no GameStream ports.
    let gamestream = if settings.gamestream {
        Some(
            crate::protocols::gamestream::GameStream::bind(
                host.clone(),
                settings.bind,
                settings.gamestream_port_base,
            )
            .await?,
        )
    } else {
        None
    };
    if let Some(g) = &gamestream {
        g.announce();
    }

    // Bound before the mDNS announcement, which carries its port.
    let (api, api_port) = if with_api {
        let state = crate::mgmt::ApiState::new(
            host.clone(),
            gamestream.as_ref().map(|g| {
                let sink: Arc<dyn crate::shared::moonlight_pairing::MoonlightPinSink> =
                    g.pin_sink();
                sink
            }),
            crate::mgmt::logbuf::LogBuffer::global().clone(),
        )?;
        state.update_ports(|p| {
            p.punktfunk1_quic = Some(listener.quic_addr.port());
            p.punktfunk1_data = Some(listener.data_port);
            p.gamestream_http = gamestream.as_ref().map(|g| g.http_addr().port());
        });
        let bind = std::net::SocketAddr::new(settings.api_bind, settings.api_port);
        let server = crate::mgmt::ApiServer::bind(state, bind).await?;
        server.announce();
        let port = server.local_addr().port();
        host.browser.set_console_port(port);
        (
            Some(tokio::spawn(server.run(stopped(stop_rx.clone())))),
            Some(port),
        )
    } else {
        (None, None)
    };

    let _mdns = if settings.mdns {
        let fingerprint = host.identity.fingerprint();
        let announcement = crate::app::mdns::Announcement {
            name: &settings.host_name,
            fingerprint: &fingerprint,
            quic_port: listener.quic_addr.port(),
            data_port: listener.data_port,
            api_port,
            gamestream_port: gamestream.as_ref().map(|g| g.http_addr().port()),
        };
        match crate::app::mdns::Advertiser::start(&announcement) {
            Ok(advertiser) => Some(advertiser),
            Err(e) => {
                // Discovery is a convenience: clients can still connect by address.
                tracing::warn!("not announcing on mDNS: {e:#}");
                None
            }
        }
    } else {
        tracing::info!("mDNS announcements are off");
        None
    };

    // The browser client needs the console that serves its page.
    let browser = match with_api.then(|| listener.webtransport(None)) {
        Some(Ok(endpoint)) => Some(tokio::spawn(endpoint.run(stopped(stop_rx.clone())))),
        Some(Err(e)) => {
            tracing::warn!("no browser client: {e:#}");
            None
        }
        None => None,
    };
    let gamestream = gamestream.map(|g| tokio::spawn(g.run(stop_rx.clone())));
    let native = tokio::spawn(listener.run(stopped(stop_rx.clone())));
    signals.recv().await;
    let _ = stop_tx.send(true);
    native.await??;
    if let Some(browser) = browser {
        browser.await??;
    }
    if let Some(gamestream) = gamestream {
        gamestream.await??;
    }
    if let Some(api) = api {
        api.await??;
    }
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// SIGINT/SIGTERM handlers, installed before anything is announced: a service manager (or script)
/// that stops the host right after READY must get a clean shutdown, not the default action.
struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind)
                    .map_err(|e| tracing::warn!("cannot listen for a shutdown signal: {e}"))
                    .ok()
            };
            ShutdownSignals {
                term: listen(SignalKind::terminate()),
                int: listen(SignalKind::interrupt()),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignals {}
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => {},
                _ = next(&mut self.int) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
