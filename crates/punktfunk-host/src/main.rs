//! `punktfunk-host`: the streaming host.

mod capture;
mod config_dir;
mod identity;
mod native_pairing;
mod paired;
mod punktfunk1;
mod source;
mod vdisplay;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use punktfunk1::{DEFAULT_PORT, ListenerConfig, SourceKind};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "punktfunk-host", version, about = "punktfunk streaming host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host: every punktfunk/1 client gets its own virtual display at its mode, captured and
    /// encoded (our own headless sway when there is no desktop session). Without any usable compositor
    /// it serves the test sources instead and says why. The management API and GameStream join later.
    Serve(ListenArgs),
    /// Run only the punktfunk/1 native listener with the given frame source.
    #[command(name = "punktfunk1-host")]
    Punktfunk1Host {
        /// Frame source for every session.
        #[arg(long, value_enum, default_value_t = SourceKind::Virtual)]
        source: SourceKind,
        #[command(flatten)]
        listen: ListenArgs,
    },
    /// Print the host identity's certificate fingerprint (what clients pin), creating it if needed.
    Fingerprint,
    /// List the video encoders FFmpeg offers, which of ours really open on this machine, and the
    /// fps of each over 120 frames of a 1080p60 test pattern at 20 Mbit/s.
    EncodeSelftest,
    /// Detect the compositor, create a 1280x720@60 virtual display, capture one frame from it, and
    /// report the time each step took — or exactly why it cannot.
    CompositorProbe {
        /// Use this compositor instead of detecting one: sway, headless (our own private sway),
        /// mutter, kwin, gamescope.
        #[arg(long)]
        compositor: Option<String>,
    },
}

#[derive(Args, Clone)]
struct ListenArgs {
    /// Compositor for virtual displays instead of detecting one: sway, headless, mutter, kwin,
    /// gamescope (`--source display` and `serve`).
    #[arg(long)]
    compositor: Option<String>,
    /// Address to listen on (both QUIC and the data plane). `::` also accepts IPv4.
    #[arg(long, default_value_t = IpAddr::V6(Ipv6Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// QUIC control port; 0 picks a free port (printed on the READY line).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// UDP data-plane port; defaults to the QUIC port + 1.
    #[arg(long)]
    data_port: Option<u16>,
    /// Most concurrent sessions; further clients are refused with a reason.
    #[arg(long, default_value_t = 4)]
    max_sessions: usize,
    /// Seconds without client feedback after which a session is torn down.
    #[arg(long, default_value_t = 5.0)]
    feedback_timeout: f64,
}

impl ListenArgs {
    fn config(&self, source: SourceKind) -> Result<ListenerConfig> {
        anyhow::ensure!(
            self.feedback_timeout.is_finite() && self.feedback_timeout > 0.0,
            "--feedback-timeout must be a positive number of seconds"
        );
        anyhow::ensure!(self.max_sessions > 0, "--max-sessions must be at least 1");
        Ok(ListenerConfig {
            bind: SocketAddr::new(self.bind, self.port),
            data_port: self.data_port,
            max_sessions: self.max_sessions,
            source,
            feedback_timeout: Duration::from_secs_f64(self.feedback_timeout),
        })
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = config_dir::config_dir()?;
    match cli.command {
        Command::Serve(listen) => {
            let identity = identity::HostIdentity::load_or_create(&dir)?;
            let displays = match vdisplay::open(listen.compositor.as_deref()) {
                Ok(backend) => Some(Arc::from(backend)),
                Err(e) => {
                    tracing::warn!("no virtual displays ({e:#}); serving the test sources instead");
                    None
                }
            };
            let kind = if displays.is_some() {
                SourceKind::Display
            } else {
                SourceKind::Virtual
            };
            let config = listen.config(kind)?;
            runtime.block_on(punktfunk1::run_listener(
                config,
                displays,
                &identity,
                shutdown_signal(),
            ))
        }
        Command::Punktfunk1Host { source, listen } => {
            let identity = identity::HostIdentity::load_or_create(&dir)?;
            let displays = match source {
                SourceKind::Display => {
                    Some(Arc::from(vdisplay::open(listen.compositor.as_deref())?))
                }
                SourceKind::Virtual => None,
            };
            let config = listen.config(source)?;
            runtime.block_on(punktfunk1::run_listener(
                config,
                displays,
                &identity,
                shutdown_signal(),
            ))
        }
        Command::CompositorProbe { compositor } => {
            println!("{}", vdisplay::compositor_probe(compositor.as_deref())?);
            Ok(())
        }
        Command::EncodeSelftest => {
            punktfunk_media::init()?;
            let rows = punktfunk_media::encode::encode_selftest();
            print!("{}", punktfunk_media::encode::render_selftest_table(&rows));
            Ok(())
        }
        Command::Fingerprint => {
            println!(
                "{}",
                identity::HostIdentity::load_or_create(&dir)?.fingerprint()
            );
            Ok(())
        }
    }
}
