//! `/launch`, `/resume` and `/cancel`: where a Moonlight session starts and ends. The streaming
//! itself (RTSP, control, video, audio, the app) is [`super::streaming`]'s; this turns nvhttp requests
//! into its calls and its answers into XML.

use super::Shared;
use super::apps::{self, GameStreamApp};
use super::stream_params::LaunchRequest as StreamLaunch;
use super::transport::Transport;
use punktfunk_core::gamestream::nvhttp::{self, LaunchRequest};
use std::num::NonZeroU32;

pub async fn launch(
    shared: &Shared,
    transport: &Transport,
    apps: &[GameStreamApp],
    request: &LaunchRequest,
) -> String {
    let Some(app) = request.app_id.and_then(|id| apps::find(apps, id)) else {
        return nvhttp::error_xml(404, "no such app on this host");
    };
    match shared
        .streaming
        .launch(stream_request(shared, transport, app, request))
        .await
    {
        Ok(url) => nvhttp::launch_xml(&url, false),
        Err(e) => {
            tracing::info!(app = %app.title, "launch refused: {e}");
            nvhttp::error_xml(e.status_code(), &e.to_string())
        }
    }
}

/// `/resume`: a new stream on the app and display a client left running (see
/// [`super::parked::Parked`]); only the client that launched it may pick it up.
pub async fn resume(
    shared: &Shared,
    transport: &Transport,
    apps: &[GameStreamApp],
    request: &LaunchRequest,
) -> String {
    let Some(running) = shared.streaming.current_game() else {
        return nvhttp::error_xml(503, "nothing is running that could be resumed");
    };
    let Some(app) = apps::find(apps, running.get()) else {
        return nvhttp::error_xml(503, "the running app is no longer configured");
    };
    match shared
        .streaming
        .resume(stream_request(shared, transport, app, request))
        .await
    {
        Ok(url) => nvhttp::launch_xml(&url, true),
        Err(e) => {
            tracing::info!("resume refused: {e}");
            nvhttp::error_xml(e.status_code(), &e.to_string())
        }
    }
}

/// What streaming needs from a `/launch` or `/resume` of `app` over `transport`.
fn stream_request(
    shared: &Shared,
    transport: &Transport,
    app: &GameStreamApp,
    request: &LaunchRequest,
) -> StreamLaunch {
    let mut launch = StreamLaunch::from_nvhttp(
        app.clone(),
        request,
        transport.paired_id.clone(),
        transport.local_ip,
        transport.remote_ip,
    );
    // The name the user gave the device when pairing says more than Moonlight's `uniqueid`.
    if let Some(device) = transport
        .paired_id
        .as_deref()
        .and_then(|id| shared.host.paired.get(id))
    {
        launch.client_name = device.name;
    }
    launch
}

/// `/cancel`: quits what this client launched (another client's game is refused, see
/// [`super::streaming::Streaming::cancel`]).
pub async fn cancel(shared: &Shared, transport: &Transport) -> String {
    match shared
        .streaming
        .cancel(transport.paired_id.as_deref())
        .await
    {
        Ok(()) => nvhttp::cancel_xml(),
        Err(e) => {
            tracing::info!("cancel refused: {e}");
            nvhttp::error_xml(e.status_code(), &e.to_string())
        }
    }
}

/// The app id `/serverinfo` reports as running.
pub fn current_game(shared: &Shared) -> Option<NonZeroU32> {
    shared.streaming.current_game()
}
