//! What lets a browser stream: the WebTransport endpoint's port and certificate hash (a page can
//! only reach a self-signed host by that hash), and the one-time tickets the management API hands a
//! logged-in console page, which the browser presents as its first message. A browser has no client
//! certificate, so the console login is what pairs it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an issued ticket can be redeemed.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// Unredeemed tickets kept at most; the oldest goes first.
const MAX_TICKETS: usize = 32;

/// Where a browser connects, as the page needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrowserEndpoint {
    /// UDP port of the WebTransport (HTTP/3) endpoint, on the host's address.
    pub port: u16,
    /// SHA-256 of the endpoint's current certificate (`serverCertificateHashes`).
    pub certificate_sha256: [u8; 32],
}

/// The URL path the WebTransport endpoint serves sessions on.
pub const SESSION_PATH: &str = "/punktfunk/1";

#[derive(Default)]
pub struct BrowserAccess {
    endpoint: Mutex<Option<BrowserEndpoint>>,
    tickets: Mutex<Vec<([u8; 32], Instant)>>,
    /// Port of the console (the management API) that serves the page.
    console_port: Mutex<Option<u16>>,
}

impl BrowserAccess {
    /// The console's port: pages served from it (any of the host's addresses) may stream.
    pub fn set_console_port(&self, port: u16) {
        *self
            .console_port
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(port);
    }

    /// Whether a WebTransport session request with this `Origin` may go on: a browser always
    /// names the page's origin, and only the host's own console page is let in (`https://`, the
    /// console's port). A request without an origin is no browser page; it still needs a ticket.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let Some(console) = *self
            .console_port
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        else {
            return false;
        };
        let Some((host, port)) = origin
            .strip_prefix("https://")
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            return false;
        };
        let host_ok = if let Some(inner) = host.strip_prefix('[') {
            inner.ends_with(']') && inner.len() > 1
        } else {
            !host.is_empty() && !host.contains(['/', '[', ']', '@'])
        };
        host_ok && port.parse::<u16>() == Ok(console)
    }

    /// Publishes (or, with `None`, withdraws) the endpoint; called again when its certificate rotates.
    pub fn set_endpoint(&self, endpoint: Option<BrowserEndpoint>) {
        *self.endpoint.lock().unwrap_or_else(PoisonError::into_inner) = endpoint;
    }

    pub fn endpoint(&self) -> Option<BrowserEndpoint> {
        *self.endpoint.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new ticket (64 hex digits) and where to present it; `None` while no endpoint runs.
    pub fn issue(&self, now: Instant) -> Option<(String, BrowserEndpoint)> {
        let endpoint = self.endpoint()?;
        let ticket: [u8; 32] = rand::random();
        let mut tickets = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        tickets.retain(|(_, issued)| now.duration_since(*issued) < TICKET_LIFETIME);
        if tickets.len() >= MAX_TICKETS {
            tickets.remove(0);
        }
        tickets.push((ticket, now));
        Some((punktfunk_core::hex::encode(&ticket), endpoint))
    }

    /// Whether `ticket` was issued, is unexpired and unused; it is used up either way it matched.
    pub fn redeem(&self, ticket: &str, now: Instant) -> bool {
        let Some(wanted) = punktfunk_core::hex::decode(ticket) else {
            return false;
        };
        let mut tickets = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        // Compared in full (no early exit on the first differing byte): a ticket is a secret.
        let found = tickets.iter().position(|(t, _)| {
            wanted.len() == t.len() && t.iter().zip(&wanted).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
        });
        match found {
            Some(i) => {
                let (_, issued) = tickets.remove(i);
                now.duration_since(issued) < TICKET_LIFETIME
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> BrowserAccess {
        let access = BrowserAccess::default();
        access.set_endpoint(Some(BrowserEndpoint {
            port: 47802,
            certificate_sha256: [7; 32],
        }));
        access
    }

    #[test]
    fn a_ticket_works_once_and_only_while_fresh() {
        let access = access();
        let now = Instant::now();
        let (ticket, endpoint) = access.issue(now).unwrap();
        assert_eq!(ticket.len(), 64);
        assert_eq!(endpoint.port, 47802);
        assert!(access.redeem(&ticket, now + Duration::from_secs(1)));
        assert!(
            !access.redeem(&ticket, now + Duration::from_secs(2)),
            "used up"
        );
        let (late, _) = access.issue(now).unwrap();
        assert!(!access.redeem(&late, now + TICKET_LIFETIME));
        let (other, _) = access.issue(now).unwrap();
        assert!(!access.redeem(&other[..63], now), "a prefix is no ticket");
        assert!(!access.redeem("not hex", now));
        assert!(access.redeem(&other, now));
    }

    #[test]
    fn only_the_consoles_own_pages_may_connect() {
        let access = access();
        assert!(
            !access.origin_allowed(Some("https://10.0.0.2:3000")),
            "console port unknown"
        );
        access.set_console_port(3000);
        for ok in [
            "https://10.0.0.2:3000",
            "https://[::1]:3000",
            "https://gaming-pc.local:3000",
        ] {
            assert!(access.origin_allowed(Some(ok)), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "https://evil.example:443",
            "http://10.0.0.2:3000",
            "https://10.0.0.2:3001",
            "https://:3000",
            "https://a@b:3000",
            "null",
            "",
        ] {
            assert!(!access.origin_allowed(Some(bad)), "{bad}");
        }
        assert!(
            access.origin_allowed(None),
            "not a browser page: the ticket decides"
        );
    }

    #[test]
    fn no_endpoint_no_tickets_and_old_ones_make_room() {
        let access = BrowserAccess::default();
        assert!(access.issue(Instant::now()).is_none());
        let access = self::access();
        let now = Instant::now();
        let first = access.issue(now).unwrap().0;
        for _ in 0..MAX_TICKETS {
            access.issue(now).unwrap();
        }
        assert!(!access.redeem(&first, now), "the oldest made room");
    }
}
