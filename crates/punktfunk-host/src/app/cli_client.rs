//! Command-line clients of the running host's management API, over HTTPS on loopback with the admin
//! token from the config dir, pinning the host's own certificate: `punktfunk-host pair --native`
//! (arm a punktfunk/1 PIN and print it), `punktfunk-host pair --pin NNNN` (hand Moonlight's PIN
//! to the waiting GameStream pairing) and `punktfunk-host console-password` (set the web console's
//! password; the running host keeps only its hash).

use crate::mgmt::auth;
use crate::services::settings::SettingsStore;
use anyhow::{Context, Result, bail};
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
#[group(required = true, multiple = false, id = "what")]
pub struct PairArgs {
    /// Arm a one-time PIN for a punktfunk/1 client and print it.
    #[arg(long, group = "what")]
    pub native: bool,
    /// The 4-digit PIN Moonlight shows: completes the waiting GameStream pairing.
    #[arg(long, group = "what", value_name = "NNNN")]
    pub pin: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Port of the running host's management API. [default: api_port from config.toml, else 3000]
    #[arg(long, env = "PUNKTFUNK_API_PORT")]
    pub api_port: Option<u16>,
}

/// A connection target plus credentials for the host running with the same config dir.
pub struct ApiClient {
    addr: SocketAddr,
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl ApiClient {
    pub fn for_local_host(dir: &Path, args: &ApiArgs) -> Result<ApiClient> {
        let token = auth::read_token(dir)?;
        let cert_path = dir.join("host-cert.der");
        let cert = std::fs::read(&cert_path)
            .with_context(|| format!("reading the host certificate {}", cert_path.display()))?;
        let fingerprint = crate::services::identity::fingerprint(&cert);
        let settings = SettingsStore::load(dir, serde_json::Map::new())?.get();
        let port = args.api_port.unwrap_or(settings.api_port);
        if port == 0 {
            bail!(
                "the API port is chosen at start-up (api_port = 0); pass --api-port with the port the host printed"
            );
        }
        // The token is only accepted from loopback; reach the API there (on the family it binds).
        let ip = match settings.api_bind {
            IpAddr::V6(v6) if v6.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let verifier = punktfunk_common::tls::PinnedVerifier::new(Some(fingerprint));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
        Ok(ApiClient {
            addr: SocketAddr::new(ip, port),
            token,
            tls: Arc::new(tls),
        })
    }

    /// One request; the JSON answer (null when empty) for 2xx, the API's `error` otherwise.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(self.addr)
                .await
                .with_context(|| {
                    format!(
                        "connecting to the management API at {} (is the host running?)",
                        self.addr
                    )
                })?;
            let name = ServerName::try_from(punktfunk_common::tls::SERVER_NAME)?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .context("TLS with the host (is this the host of this config dir?)")?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(connection);
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(format!("https://{}/api/v1{path}", self.addr))
                .header("host", self.addr.to_string())
                .header("authorization", format!("Bearer {}", self.token));
            let bytes = match body {
                Some(json) => {
                    request = request.header("content-type", "application/json");
                    serde_json::to_vec(&json)?
                }
                None => Vec::new(),
            };
            let response = sender
                .send_request(request.body(Full::new(Bytes::from(bytes)))?)
                .await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .context("the management API did not answer within 30 s")??;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).context("the API answered something other than JSON")?
        };
        if !status.is_success() {
            let reason = json["error"].as_str().unwrap_or("no reason given");
            bail!("{method} {path}: {status}: {reason}");
        }
        Ok(json)
    }
}

/// `punktfunk-host pair`.
pub fn pair(runtime: &tokio::runtime::Runtime, dir: &Path, args: &PairArgs) -> Result<()> {
    let client = ApiClient::for_local_host(dir, &args.api)?;
    runtime.block_on(async {
        if args.native {
            let armed = client.call("POST", "/pairing/native", None).await?;
            let pin = armed["pin"].as_str().context("the answer has no PIN")?;
            let expires = armed["expires_in_secs"].as_u64().unwrap_or(0);
            println!("PIN {pin}");
            eprintln!("Enter this PIN on the client within {expires} s; it works once.");
        } else if let Some(pin) = &args.pin {
            let pin = pin.trim();
            if !crate::mgmt::routes::pairing::is_moonlight_pin(pin) {
                bail!("a Moonlight PIN has exactly 4 digits");
            }
            client
                .call(
                    "POST",
                    "/pairing/moonlight",
                    Some(serde_json::json!({ "pin": pin })),
                )
                .await?;
            println!("PIN sent; Moonlight finishes the pairing by itself.");
        }
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct PasswordArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `punktfunk-host console-password`: the first line of stdin becomes the console password.
pub fn console_password(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    args: &PasswordArgs,
) -> Result<()> {
    let client = ApiClient::for_local_host(dir, &args.api)?;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("New console password (the input is shown; pipe it in to hide it):");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if let Some(problem) = auth::password_problem(password) {
        bail!("{problem}");
    }
    runtime.block_on(client.call(
        "PUT",
        "/auth/password",
        Some(serde_json::json!({ "password": password })),
    ))?;
    println!("Console password set; log in at the host's https://…:PORT/ page.");
    Ok(())
}
