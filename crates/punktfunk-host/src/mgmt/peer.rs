//! The remote address of the connection a request came in on: the server puts it into every
//! request's extensions; the login limiter and the loopback-only routes read it.

use std::net::SocketAddr;

#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);
