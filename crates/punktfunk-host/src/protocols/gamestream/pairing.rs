//! Moonlight PIN pairing on the host: phase 1 arrives and *waits* until the user types the PIN shown
//! by Moonlight into the console, the API or `punktfunk-host pair --pin`; phases 2–4 then run the
//! core state machine ([`PairingSession`]); phase 4's success stores the client. A wrong PIN is only
//! noticed by the client (it cannot recompute the host's hash), so the host simply never gets phase 4
//! and stores nothing.
//!
//! The phases arrive on separate HTTP connections identified by nothing but `uniqueid`, which most
//! clients hard-code; so one pairing runs at a time, and a second client is told "already pairing".

use super::clients::PairedClients;
use super::identity::GameStreamIdentity;
use crate::shared::moonlight_pairing::{MoonlightPending, MoonlightPinError, MoonlightPinSink};
use punktfunk_core::gamestream::nvhttp::PairAnswer;
use punktfunk_core::gamestream::pairing::{
    PairReply, PairingError, PairingSession, Pin, ServerRandom,
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long phase 1 waits for the PIN. Moonlight itself waits forever; this only bounds how long an
/// abandoned attempt can block other clients.
pub const PIN_WAIT: Duration = Duration::from_secs(180);
/// Most time between two later phases (the client sends them back to back).
const PHASE_GAP: Duration = Duration::from_secs(30);
/// `devicename` is free text from the network; it ends up in the console.
const MAX_NAME: usize = 64;

struct Waiting {
    ticket: u64,
    unique_id: String,
    device_name: String,
    since: Instant,
    pin: oneshot::Sender<Pin>,
}

struct Running {
    unique_id: String,
    device_name: String,
    session: PairingSession,
    last_step: Instant,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    waiting: Option<Waiting>,
    running: Option<Running>,
}

pub struct PairingDesk {
    identity: Arc<GameStreamIdentity>,
    clients: Arc<PairedClients>,
    state: Mutex<State>,
}

/// One later-phase request (2, 3 or 4).
pub enum Step {
    ClientChallenge(Vec<u8>),
    ServerChallengeResp(Vec<u8>),
    ClientPairingSecret(Vec<u8>),
}

impl PairingDesk {
    pub fn new(identity: Arc<GameStreamIdentity>, clients: Arc<PairedClients>) -> Self {
        PairingDesk {
            identity,
            clients,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every transition replaces whole fields; nothing is left half-done by a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Phase 1: waits for the PIN (up to [`PIN_WAIT`]), then answers with the host certificate.
    pub async fn get_server_cert(
        &self,
        unique_id: &str,
        device_name: Option<&str>,
        salt: [u8; 16],
        client_cert_pem: &[u8],
    ) -> PairAnswer {
        let session = match PairingSession::new(client_cert_pem, salt) {
            Ok(session) => session,
            Err(e) => return failed(400, &e),
        };
        let device_name = clean_name(device_name);
        let (tx, rx) = oneshot::channel();
        let ticket = {
            let mut state = self.state();
            let busy = state
                .waiting
                .as_ref()
                .is_some_and(|w| w.unique_id != unique_id && !w.pin.is_closed())
                || state
                    .running
                    .as_ref()
                    .is_some_and(|r| r.unique_id != unique_id && r.last_step.elapsed() < PHASE_GAP);
            if busy {
                tracing::info!("Moonlight pairing refused: another client is pairing");
                return PairAnswer::AlreadyPairing;
            }
            // The same client starting over replaces its old attempt.
            state.running = None;
            state.next_ticket += 1;
            let ticket = state.next_ticket;
            state.waiting = Some(Waiting {
                ticket,
                unique_id: unique_id.to_string(),
                device_name: device_name.clone(),
                since: Instant::now(),
                pin: tx,
            });
            ticket
        };
        tracing::info!(client = %device_name, "Moonlight client wants to pair: enter the PIN it shows");
        // If the client hangs up, this future is dropped: the guard withdraws the request.
        let guard = WithdrawOnDrop { desk: self, ticket };
        let pin = tokio::time::timeout(PIN_WAIT, rx).await;
        drop(guard);
        let pin = match pin {
            Ok(Ok(pin)) => pin,
            Ok(Err(_)) => return failed_msg(409, "pairing was replaced by a newer attempt"),
            Err(_) => return failed_msg(408, "no PIN was entered on the host in time"),
        };
        let mut session = session;
        let reply = session.enter_pin(&self.identity.pairing, &pin);
        if reply.is_ok() {
            let mut state = self.state();
            state.running = Some(Running {
                unique_id: unique_id.to_string(),
                device_name,
                session,
                last_step: Instant::now(),
            });
        }
        PairAnswer::from_step(&reply)
    }

    /// Phases 2–4 of the attempt `unique_id` started.
    pub fn step(&self, unique_id: &str, step: Step) -> PairAnswer {
        let mut state = self.state();
        let Some(running) = state
            .running
            .as_mut()
            .filter(|r| r.unique_id == unique_id && r.last_step.elapsed() < PHASE_GAP)
        else {
            state.running = None;
            return failed_msg(
                400,
                "no pairing attempt in progress; start again from the client",
            );
        };
        running.last_step = Instant::now();
        let result = match step {
            Step::ClientChallenge(challenge) => match server_random() {
                Ok(random) => {
                    running
                        .session
                        .client_challenge(&self.identity.pairing, &challenge, &random)
                }
                Err(e) => Err(e),
            },
            Step::ServerChallengeResp(hash) => running
                .session
                .server_challenge_response(&self.identity.pairing, &hash),
            Step::ClientPairingSecret(secret) => running.session.client_pairing_secret(&secret),
        };
        let finished = !matches!(
            result,
            Ok(PairReply::ChallengeResponse(_)
                | PairReply::PairingSecret(_)
                | PairReply::ServerCert { .. })
        );
        let device_name = running.device_name.clone();
        if finished {
            state.running = None;
        }
        drop(state);
        match &result {
            Ok(PairReply::Paired { client_cert }) => {
                let name = device_label(&device_name, client_cert.der());
                match self.clients.add(client_cert, &name) {
                    Ok(device) => {
                        tracing::info!(id = %device.id, name = %device.name, "Moonlight client paired");
                        PairAnswer::Paired
                    }
                    Err(e) => {
                        tracing::error!("storing the paired Moonlight client failed: {e:#}");
                        failed_msg(500, "the host could not store the pairing")
                    }
                }
            }
            Err(e) => {
                tracing::info!("Moonlight pairing failed: {e}");
                PairAnswer::from_step(&result)
            }
            Ok(_) => PairAnswer::from_step(&result),
        }
    }

    /// `/unpair` over HTTP: Moonlight sends it after any failed attempt; it ends that client's attempt.
    pub fn abandon(&self, unique_id: &str) {
        let mut state = self.state();
        if state
            .waiting
            .as_ref()
            .is_some_and(|w| w.unique_id == unique_id)
        {
            state.waiting = None;
        }
        if state
            .running
            .as_ref()
            .is_some_and(|r| r.unique_id == unique_id)
        {
            state.running = None;
            tracing::info!("Moonlight pairing attempt abandoned by the client");
        }
    }
}

struct WithdrawOnDrop<'a> {
    desk: &'a PairingDesk,
    ticket: u64,
}

impl Drop for WithdrawOnDrop<'_> {
    fn drop(&mut self) {
        let mut state = self.desk.state();
        if state
            .waiting
            .as_ref()
            .is_some_and(|w| w.ticket == self.ticket)
        {
            state.waiting = None;
        }
    }
}

impl MoonlightPinSink for PairingDesk {
    fn pending(&self) -> Vec<MoonlightPending> {
        let state = self.state();
        state
            .waiting
            .iter()
            .filter(|w| !w.pin.is_closed())
            .map(|w| MoonlightPending {
                client_name: w.device_name.clone(),
                waiting_secs: w.since.elapsed().as_secs(),
            })
            .collect()
    }

    fn submit_pin(&self, pin: &str) -> Result<(), MoonlightPinError> {
        let pin = Pin::parse(pin).map_err(|e| MoonlightPinError::Rejected(e.to_string()))?;
        let waiting = self
            .state()
            .waiting
            .take()
            .ok_or(MoonlightPinError::NothingPending)?;
        waiting
            .pin
            .send(pin)
            .map_err(|_| MoonlightPinError::NothingPending)
    }
}

/// S and SC for phase 2, from the OS CSPRNG (aws-lc-rs, like every other secret of the host).
fn server_random() -> Result<ServerRandom, PairingError> {
    let mut random = ServerRandom {
        server_secret: [0; 16],
        server_challenge: [0; 16],
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    aws_lc_rs::rand::SecureRandom::fill(&rng, &mut random.server_secret)
        .map_err(|_| PairingError::Crypto)?;
    aws_lc_rs::rand::SecureRandom::fill(&rng, &mut random.server_challenge)
        .map_err(|_| PairingError::Crypto)?;
    Ok(random)
}

/// What stock clients send as `devicename`: a constant, so it names nothing.
const STOCK_DEVICE_NAME: &str = "roth";
const GENERIC_NAME: &str = "Moonlight";

fn clean_name(name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    let name = name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case(STOCK_DEVICE_NAME) {
        GENERIC_NAME.to_string()
    } else {
        name.to_string()
    }
}

/// The name a paired client is listed under: its own when it sent one, else "Moonlight" plus the
/// start of its certificate id, so several stock clients can be told apart (and renamed) in the console.
fn device_label(name: &str, cert_der: &[u8]) -> String {
    if name == GENERIC_NAME {
        let id = crate::services::identity::fingerprint(cert_der);
        format!("{GENERIC_NAME} {}", id.get(..6).unwrap_or(&id))
    } else {
        name.to_string()
    }
}

fn failed(status_code: u16, e: &PairingError) -> PairAnswer {
    failed_msg(status_code, &e.to_string())
}

fn failed_msg(status_code: u16, message: &str) -> PairAnswer {
    PairAnswer::Failed {
        status_code,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests;
