//! The command line: `punktfunk-host <command>`.

use crate::VERSION;
use crate::app::serve_args::ListenArgs;
use crate::app::{cli_client, doctor, library_cli, serve};
use crate::mgmt;
use crate::platform::{audio, vdisplay};
use crate::protocols::punktfunk1::SourceKind;
use crate::services::{config_dir, identity};
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "punktfunk-host",
    version = VERSION,
    about = "punktfunk streaming host",
    long_about = "punktfunk streaming host: per-client virtual displays streamed over punktfunk/1 \
                  and (with --gamestream) to Moonlight. Start with `punktfunk-host doctor`, then \
                  `punktfunk-host serve` (or the systemd user unit punktfunk-host.service).\n\n\
                  Settings: config.toml in $PUNKTFUNK_CONFIG_DIR, else ~/.config/punktfunk; \
                  logs: RUST_LOG (default info)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host: every punktfunk/1 client gets its own virtual display at its mode, captured and
    /// encoded (our own headless sway and PipeWire when there is no desktop session). Without any usable compositor
    /// it serves the test sources instead and says why. Settings come from config.toml in the config
    /// dir ($PUNKTFUNK_CONFIG_DIR, else ~/.config/punktfunk); each flag below overrides its setting.
    Serve {
        /// Stream this source to every client instead of choosing: `display` (fail without a
        /// compositor) or `virtual` (the moving test pattern, HDR10 to clients that display HDR —
        /// for checking a client or a network without a desktop).
        #[arg(long, value_enum)]
        source: Option<SourceKind>,
        #[command(flatten)]
        listen: ListenArgs,
    },
    /// Run only the punktfunk/1 native listener with the given frame source.
    #[command(name = "punktfunk1-host")]
    Punktfunk1Host {
        /// Frame source for every session.
        #[arg(long, value_enum, default_value_t = SourceKind::Virtual)]
        source: SourceKind,
        #[command(flatten)]
        listen: ListenArgs,
    },
    /// Check what `serve` with these flags needs on this machine (config, compositor, PipeWire,
    /// encoders, gamepad devices, ports, firewall) and say what to fix; exits non-zero when
    /// something must be fixed.
    Doctor(ListenArgs),
    /// Print the host identity's certificate fingerprint (what clients pin), creating it if needed.
    Fingerprint,
    /// List the video encoders FFmpeg offers, which of ours really open on this machine, and the
    /// fps of each over 120 frames of a 1080p60 test pattern at 20 Mbit/s.
    EncodeSelftest,
    /// Pair a device through the running host's management API (loopback, admin token):
    /// `--native` arms and prints a PIN for a punktfunk/1 client, `--pin NNNN` hands Moonlight's
    /// PIN to the waiting GameStream pairing.
    Pair(cli_client::PairArgs),
    /// Set the web console's password through the running host's API (loopback, admin token): the
    /// first line of stdin, at least 8 characters. Other console sessions end.
    ConsolePassword(cli_client::PasswordArgs),
    /// Print the management API's OpenAPI document (what api/openapi.json holds).
    Openapi,
    /// Run a private D-Bus + PipeWire + WirePlumber (for audio without a desktop session): prints
    /// `READY runtime_dir=DIR pipewire=SOCKET`; start the host and apps with
    /// `PIPEWIRE_RUNTIME_DIR=DIR`. Runs until stdin closes, SIGINT or SIGTERM.
    AudioSession,
    /// The games found in this user's stores (Steam, Heroic, Lutris, desktop entries): `list` (a
    /// table), `json`, `art ID` (writes the title's cover art to stdout), or `refresh` (the running
    /// host rescans now).
    Library {
        #[command(subcommand)]
        action: Option<library_cli::Action>,
    },
    /// Detect the compositor, create a 1280x720@60 virtual display, capture one frame from it, and
    /// report the time each step took — or exactly why it cannot.
    CompositorProbe {
        /// Use this compositor instead of detecting one: sway, headless (our own private sway),
        /// mutter, kwin, gamescope.
        #[arg(long)]
        compositor: Option<String>,
    },
}

/// Parses the command line and runs the command (the `punktfunk-host` binary is this call).
pub fn main() -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Before any thread allocates: sessions come and go for months.
    crate::services::memory::limit_arenas();
    // One filter for both: stderr and the console's log view (GET /logs) show the same lines.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(mgmt::logbuf::LogBuffer::global().layer())
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = config_dir::config_dir()?;
    match cli.command {
        Command::Serve { source, listen } => {
            let sources = source.map_or(serve::Sources::Auto, serve::Sources::Only);
            serve::run(&runtime, &dir, &listen, sources, serve::Role::Full)
        }
        Command::Punktfunk1Host { source, listen } => serve::run(
            &runtime,
            &dir,
            &listen,
            serve::Sources::Only(source),
            serve::Role::NativeOnly,
        ),
        Command::Doctor(args) => doctor::run(&dir, &args),
        Command::Pair(args) => cli_client::pair(&runtime, &dir, &args),
        Command::ConsolePassword(args) => cli_client::console_password(&runtime, &dir, &args),
        Command::Openapi => {
            print!("{}", mgmt::openapi::document_pretty()?);
            Ok(())
        }
        Command::AudioSession => audio::standalone::run(&runtime),
        Command::Library { action } => library_cli::run(&runtime, &dir, action.unwrap_or_default()),
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
