//! The host's armed punktfunk/1 pairing PIN: the core [`PinGate`] on the wall clock, shared by
//! whoever arms it (CLI flag, management API) and the sessions that check attempts against it.

use punktfunk_core::pairing::{PinError, PinGate};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// A freshly armed PIN, to show to the user.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ArmedPin {
    pub pin: String,
    pub expires_in_secs: u64,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NativePairingStatus {
    pub armed: bool,
    pub expires_in_secs: Option<u64>,
    pub failed_attempts: u32,
}

#[derive(Clone)]
pub struct NativePairing {
    gate: Arc<Mutex<PinGate>>,
}

impl Default for NativePairing {
    fn default() -> Self {
        Self::new()
    }
}

impl NativePairing {
    pub fn new() -> Self {
        NativePairing {
            gate: Arc::new(Mutex::new(PinGate::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PinGate> {
        // Every PinGate method leaves it consistent, so a poisoned lock still holds a valid gate.
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms a new PIN (replacing any armed one) and prints it as a `PIN <digits>` line on stdout,
    /// next to the READY line, for headless hosts and scripts.
    pub fn arm(&self) -> ArmedPin {
        let now = Instant::now();
        let mut gate = self.lock();
        let pin = gate.arm(now, rand::random());
        let expires_in_secs = gate.remaining(now).map_or(0, |d| d.as_secs());
        drop(gate);
        tracing::info!(expires_in_secs, "pairing PIN armed");
        crate::services::status_line::status_line!("PIN {pin}");
        ArmedPin {
            pin,
            expires_in_secs,
        }
    }

    pub fn status(&self) -> NativePairingStatus {
        let gate = self.lock();
        let remaining = gate.remaining(Instant::now());
        NativePairingStatus {
            armed: remaining.is_some(),
            expires_in_secs: remaining.map(|d| d.as_secs()),
            failed_attempts: gate.failed_attempts(),
        }
    }

    /// One pairing attempt: the PIN to run the exchange with, used up by this call.
    pub fn attempt(&self) -> Result<String, PinError> {
        self.lock().attempt(Instant::now())
    }

    /// The attempt that took the PIN did not complete the exchange.
    pub fn record_failure(&self) {
        self.lock().record_failure();
    }
}
