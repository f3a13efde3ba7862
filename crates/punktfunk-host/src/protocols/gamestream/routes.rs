//! One nvhttp request → one answer. Transport facts (HTTP or HTTPS, which paired client, which local
//! address) come from the server; everything a client sends is parsed by the core's `nvhttp` module.
//! Over plain HTTP only `/serverinfo`, `/pair` and `/unpair` do anything; every other verb needs
//! HTTPS with a paired client certificate and otherwise answers XML 401.

use super::Shared;
use super::appasset;
use super::apps;
use super::launch;
use super::pairing::Step;
use super::transport::Transport;
use punktfunk_core::gamestream::nvhttp::{self, App, PairPhase, Request, ServerInfo};

pub enum Answer {
    Xml(String),
    /// A picture and its content type.
    Image(&'static str, Vec<u8>),
}

const NOT_PAIRED: &str = "this client is not paired with the host; pair it first";

/// Verbs that work without a paired certificate.
const OPEN_PATHS: [&str; 3] = ["/serverinfo", "/pair", "/unpair"];

pub async fn answer(shared: &Shared, target: &str, transport: &Transport) -> Answer {
    let paired = transport.https && transport.paired_id.is_some();
    // Authorisation before parsing: an unpaired client learns nothing about what its query lacked.
    if !paired && !OPEN_PATHS.contains(&redact(target)) {
        return Answer::Xml(nvhttp::error_xml(401, NOT_PAIRED));
    }
    let request = match nvhttp::parse_request(target) {
        Ok(request) => request,
        Err(e) => {
            tracing::debug!(target = %redact(target), "bad nvhttp request: {e}");
            return Answer::Xml(nvhttp::error_xml(e.status_code(), &e.to_string()));
        }
    };
    let xml = match request {
        Request::ServerInfo(_) => server_info(shared, transport).to_xml(),
        Request::Pair(pair) => {
            let unique_id = pair.common.unique_id.unwrap_or_default();
            let answer = match pair.phase {
                PairPhase::GetServerCert {
                    salt,
                    client_cert_pem,
                } => {
                    shared
                        .pairing
                        .get_server_cert(
                            &unique_id,
                            pair.device_name.as_deref(),
                            salt,
                            &client_cert_pem,
                        )
                        .await
                }
                PairPhase::ClientChallenge(v) => {
                    shared.pairing.step(&unique_id, Step::ClientChallenge(v))
                }
                PairPhase::ServerChallengeResp(v) => shared
                    .pairing
                    .step(&unique_id, Step::ServerChallengeResp(v)),
                PairPhase::ClientPairingSecret(v) => shared
                    .pairing
                    .step(&unique_id, Step::ClientPairingSecret(v)),
                // Phase 5: the TLS handshake with the freshly stored certificate is the whole check.
                PairPhase::PairChallenge if paired => nvhttp::PairAnswer::Paired,
                PairPhase::PairChallenge => nvhttp::PairAnswer::Failed {
                    status_code: 401,
                    message: NOT_PAIRED.to_string(),
                },
            };
            answer.to_xml()
        }
        Request::Unpair(common) => {
            // Over HTTP this can only end a pairing attempt: `uniqueid` proves nothing, and letting it
            // remove paired clients would let anyone on the network unpair everyone.
            shared
                .pairing
                .abandon(common.unique_id.as_deref().unwrap_or_default());
            if let (true, Some(id)) = (transport.https, &transport.paired_id) {
                match shared.clients.remove(id) {
                    Ok(_) => tracing::info!(%id, "Moonlight client unpaired itself"),
                    Err(e) => tracing::warn!("unpairing a Moonlight client: {e:#}"),
                }
            }
            nvhttp::ok_xml()
        }
        Request::AppList(_) => {
            let apps: Vec<App> = app_list(shared)
                .into_iter()
                .map(|a| App {
                    id: a.id,
                    title: a.title,
                    hdr_supported: false,
                })
                .collect();
            nvhttp::applist_xml(&apps)
        }
        Request::AppAsset(asset) => {
            return match apps::find(&app_list(shared), asset.app_id) {
                Some(app) => match app.art.as_deref().and_then(crate::services::library::cover) {
                    Some((content_type, bytes)) => Answer::Image(content_type, bytes),
                    None => Answer::Image("image/png", appasset::poster_png(app.id.get())),
                },
                None => Answer::Xml(nvhttp::error_xml(404, "no such app on this host")),
            };
        }
        Request::Launch(launch) => {
            launch::launch(shared, transport, &app_list(shared), &launch).await
        }
        Request::Resume(resume) => {
            launch::resume(shared, transport, &app_list(shared), &resume).await
        }
        Request::Cancel(_) => launch::cancel(shared, transport).await,
    };
    Answer::Xml(xml)
}

fn app_list(shared: &Shared) -> Vec<apps::GameStreamApp> {
    let settings = shared.host.settings.get();
    let library =
        crate::services::library::visible(&shared.host.library.titles(), &settings.library_hidden);
    apps::app_list(&settings.apps, &library)
}

fn server_info(shared: &Shared, transport: &Transport) -> ServerInfo {
    let local_ip = super::stream_params::canonical_ip(transport.local_ip);
    ServerInfo {
        hostname: shared.host.settings.get().host_name,
        unique_id: shared.identity.unique_id.clone(),
        https_port: shared.https_port,
        http_port: shared.http_port,
        // For Wake-on-LAN, and only for paired clients over HTTPS (zeros tell others nothing).
        mac: (transport.https && transport.paired_id.is_some())
            .then(|| super::wake_on_lan::mac_for_local_address(local_ip))
            .flatten(),
        local_ip: local_ip.to_string(),
        codec_mode_support: shared.streaming.capabilities().codec_mode_support(),
        hevc_supported: shared.streaming.capabilities().hevc.supported,
        paired: transport.https && transport.paired_id.is_some(),
        current_game: launch::current_game(shared),
        display_modes: Vec::new(),
    }
}

/// Pairing requests carry certificates and challenges; logs get the verb only.
fn redact(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}
