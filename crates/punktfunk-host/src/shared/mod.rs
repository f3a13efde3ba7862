//! What the front ends (`protocols` and `mgmt`) share: the host context they are all given, the
//! pairing seams (a PIN armed in the console for a native client, a Moonlight PIN typed into the
//! console), client-certificate authentication, and running a library title in a client's session.

pub mod apps;
pub mod browser_access;
pub mod client_cert_auth;
pub mod host_context;
pub mod moonlight_pairing;
pub mod native_pairing;
