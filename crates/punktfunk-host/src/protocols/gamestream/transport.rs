//! What an nvhttp connection tells about each request on it (HTTP or HTTPS, which paired client,
//! which addresses). Its own module so the router and the launch handlers it calls can both use it
//! without depending on each other.

use std::net::IpAddr;

/// What the connection tells about the request.
pub struct Transport {
    pub https: bool,
    /// The paired-device id of the client certificate, when it is paired (HTTPS only).
    pub paired_id: Option<String>,
    /// The host address the request arrived on.
    pub local_ip: IpAddr,
    /// The client's address: a launch binds the stream's RTSP, control, video and audio to it.
    pub remote_ip: IpAddr,
}
