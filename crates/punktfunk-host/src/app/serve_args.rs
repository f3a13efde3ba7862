//! Command-line flags (and their `PUNKTFUNK_*` environment variables) of `serve` and
//! `punktfunk1-host`. Each one overrides the setting of the same name from `config.toml`; unset
//! flags leave the file (or the default) in charge.

use crate::protocols::punktfunk1::{ListenerConfig, SourceKind};
use crate::services::settings::Settings;
use clap::Args;
use clap::builder::BoolishValueParser;
use serde_json::{Map, Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Args, Clone, Debug, Default)]
pub struct ListenArgs {
    /// Compositor for virtual displays instead of detecting one: sway, headless (our own private
    /// sway), mutter, kwin, gamescope.
    #[arg(long, env = "PUNKTFUNK_COMPOSITOR")]
    pub compositor: Option<String>,
    /// Address for punktfunk/1 (QUIC and the data plane); `::` also accepts IPv4. [default: ::]
    #[arg(long, env = "PUNKTFUNK_BIND")]
    pub bind: Option<IpAddr>,
    /// punktfunk/1 QUIC port; 0 picks a free port (printed on the READY line). [default: 47800]
    #[arg(long, env = "PUNKTFUNK_PORT")]
    pub port: Option<u16>,
    /// UDP data-plane port. [default: the QUIC port + 1]
    #[arg(long, env = "PUNKTFUNK_DATA_PORT")]
    pub data_port: Option<u16>,
    /// Address of the management API and web console. [default: ::]
    #[arg(long, env = "PUNKTFUNK_API_BIND")]
    pub api_bind: Option<IpAddr>,
    /// HTTPS port of the management API and web console; 0 picks a free port. [default: 3000]
    #[arg(long, env = "PUNKTFUNK_API_PORT")]
    pub api_port: Option<u16>,
    /// Most concurrent sessions; further clients are refused with a reason. [default: 4]
    #[arg(long, env = "PUNKTFUNK_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Seconds without client feedback after which a session is torn down. [default: 5]
    #[arg(long, env = "PUNKTFUNK_FEEDBACK_TIMEOUT")]
    pub feedback_timeout: Option<f64>,
    /// Trust on first use: accept clients that never paired (and remember them). Without it only
    /// clients paired with a PIN may stream.
    #[arg(long, env = "PUNKTFUNK_OPEN", value_parser = BoolishValueParser::new())]
    pub open: bool,
    /// Arm a punktfunk/1 pairing PIN at start-up (valid 2 minutes, one attempt) and print it as a
    /// `PIN <digits>` line on stdout: pairing a client with a headless host.
    #[arg(long)]
    pub arm_pin: bool,
    /// Do not advertise the host over mDNS.
    #[arg(long, env = "PUNKTFUNK_NO_MDNS", value_parser = BoolishValueParser::new())]
    pub no_mdns: bool,
    /// Also speak GameStream so stock Moonlight clients can connect.
    #[arg(long, env = "PUNKTFUNK_GAMESTREAM", value_parser = BoolishValueParser::new())]
    pub gamestream: bool,
    /// GameStream HTTP port; HTTPS is 5 below it and the streaming ports above. [default: 47989]
    #[arg(long, env = "PUNKTFUNK_GAMESTREAM_PORT_BASE")]
    pub gamestream_port_base: Option<u16>,
}

impl ListenArgs {
    /// The settings these flags override, by setting name.
    pub fn overrides(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut set = |key: &str, value: Value| {
            map.insert(key.to_string(), value);
        };
        if let Some(v) = &self.compositor {
            set("compositor", json!(v));
        }
        if let Some(v) = self.bind {
            set("bind", json!(v));
        }
        if let Some(v) = self.port {
            set("port", json!(v));
        }
        if let Some(v) = self.data_port {
            set("data_port", json!(v));
        }
        if let Some(v) = self.api_bind {
            set("api_bind", json!(v));
        }
        if let Some(v) = self.api_port {
            set("api_port", json!(v));
        }
        if let Some(v) = self.max_sessions {
            set("max_sessions", json!(v));
        }
        if let Some(v) = self.feedback_timeout {
            set("feedback_timeout_secs", json!(v));
        }
        if self.open {
            set("open", json!(true));
        }
        if self.no_mdns {
            set("mdns", json!(false));
        }
        if self.gamestream {
            set("gamestream", json!(true));
        }
        if let Some(v) = self.gamestream_port_base {
            set("gamestream_port_base", json!(v));
        }
        map
    }
}

/// The punktfunk/1 listener's configuration from the effective settings.
pub fn listener_config(settings: &Settings, source: SourceKind) -> ListenerConfig {
    ListenerConfig {
        bind: SocketAddr::new(settings.bind, settings.port),
        data_port: settings.data_port,
        max_sessions: settings.max_sessions,
        source,
        feedback_timeout: Duration::from_secs_f64(settings.feedback_timeout_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        listen: ListenArgs,
    }

    #[test]
    fn only_given_flags_override() {
        let cli = Cli::try_parse_from(["x", "--port", "0", "--open", "--no-mdns"]).unwrap();
        let o = cli.listen.overrides();
        assert_eq!(o["port"], json!(0));
        assert_eq!(o["open"], json!(true));
        assert_eq!(o["mdns"], json!(false));
        assert_eq!(o.len(), 3, "{o:?}");
        assert!(Cli::try_parse_from(["x", "--port", "70000"]).is_err());
    }
}
