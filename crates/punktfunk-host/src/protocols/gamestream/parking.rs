//! The decisions behind `/launch`, `/resume`, `/cancel` and a torn-down stream, as plain state: the
//! host's one stream slot (GameStream has a single "current game"), its one parking space for the
//! app and display a client left without quitting, and who may take or release what. No sockets or
//! threads here, so every rule is unit-tested (`parking_tests.rs`); `streaming.rs` holds this state
//! under a lock and does what it decides. How a single session ends is `session_end.rs`'s.

use super::stream_params::{LaunchError, LaunchRequest};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Whether the paired client `client_id` may quit or resume what `launch` started: the client that
/// launched it. A launch without a paired id (only tests make those) belongs to anyone.
pub fn owns(launch: &LaunchRequest, client_id: Option<&str>) -> bool {
    launch
        .client_id
        .as_deref()
        .is_none_or(|owner| Some(owner) == client_id)
}

/// `/resume`'s launch: the new client's keys, address and name on the parked app and mode (the
/// display keeps its size; Moonlight's resume may ask for another).
pub fn resumed_request(parked: &LaunchRequest, request: LaunchRequest) -> LaunchRequest {
    LaunchRequest {
        app: parked.app.clone(),
        width: parked.width,
        height: parked.height,
        fps: parked.fps,
        ..request
    }
}

/// What the decisions need to know of a stream in the slot.
pub trait StreamFacts {
    fn request(&self) -> &LaunchRequest;
    /// Something ended it; it may still be tearing down.
    fn ended(&self) -> bool;
    /// It ended because its client went away without quitting: it is being parked.
    fn client_lost(&self) -> bool;
}

impl<T: StreamFacts + ?Sized> StreamFacts for Arc<T> {
    fn request(&self) -> &LaunchRequest {
        (**self).request()
    }
    fn ended(&self) -> bool {
        (**self).ended()
    }
    fn client_lost(&self) -> bool {
        (**self).client_lost()
    }
}

/// What the decisions need to know of a parked stream.
pub trait ParkedFacts {
    fn request(&self) -> &LaunchRequest;
    /// There is still something to resume (a display, and the app not exited).
    fn alive(&self) -> bool;
    /// Its entry in the host's session list, by which an operator stops it.
    fn listing_id(&self) -> Option<&str>;
}

/// A parked stream the caller must release (off the async threads: that blocks), and why.
#[derive(Debug)]
pub struct Release<P> {
    pub parked: P,
    pub why: &'static str,
}

/// The answer to a request, and a parked stream found dead on the way that must be released either
/// way.
#[derive(Debug)]
#[must_use]
pub struct Ruling<T, P> {
    pub outcome: Result<T, LaunchError>,
    pub release: Option<Release<P>>,
}

impl<T, P> Ruling<T, P> {
    fn settled(outcome: Result<T, LaunchError>) -> Self {
        Ruling {
            outcome,
            release: None,
        }
    }
}

/// The stream slot and the parking space.
#[derive(Debug)]
pub struct Stage<S, P> {
    current: Option<S>,
    parked: Option<P>,
}

impl<S, P> Default for Stage<S, P> {
    fn default() -> Self {
        Stage {
            current: None,
            parked: None,
        }
    }
}

impl<S: StreamFacts + Clone, P: ParkedFacts> Stage<S, P> {
    /// The stream in the slot, running or ending.
    pub fn current(&self) -> Option<S> {
        self.current.clone()
    }

    /// The stream in the slot if nothing ended it: the only one a control peer may join.
    pub fn running(&self) -> Option<S> {
        self.current.as_ref().filter(|s| !s.ended()).cloned()
    }

    /// What is parked (the host only ever takes it out; tests look).
    #[cfg(test)]
    pub fn parked(&self) -> Option<&P> {
        self.parked.as_ref()
    }

    /// The app `/serverinfo` reports as running: the streamed one (also while a lost client's
    /// stream is being parked, so a client reconnecting right away resumes rather than launches),
    /// else the parked one if its app still runs — a dead parked one is handed out for release.
    pub fn current_game(&mut self) -> Ruling<Option<NonZeroU32>, P> {
        if let Some(stream) = self
            .current
            .as_ref()
            .filter(|s| !s.ended() || s.client_lost())
        {
            return Ruling::settled(Ok(Some(stream.request().app.id)));
        }
        let release = self.release_if_dead();
        Ruling {
            outcome: Ok(self.parked.as_ref().map(|p| p.request().app.id)),
            release,
        }
    }

    fn release_if_dead(&mut self) -> Option<Release<P>> {
        if self.parked.as_ref().is_some_and(|p| !p.alive()) {
            return self.parked.take().map(|parked| Release {
                parked,
                why: "its app exited",
            });
        }
        None
    }

    /// `/launch`: refused while a stream is in the slot or a live app is parked (a parked app whose
    /// app exited is not worth refusing for: it is released).
    pub fn admit_launch(&mut self) -> Ruling<(), P> {
        let Ruling { outcome, release } = self.current_game();
        let outcome = match (outcome, &self.current, &self.parked) {
            (_, Some(running), _) => Err(LaunchError::Busy(running.request().app.title.clone())),
            (Ok(Some(_)), None, Some(parked)) => {
                Err(LaunchError::Busy(parked.request().app.title.clone()))
            }
            _ => Ok(()),
        };
        Ruling { outcome, release }
    }

    /// `/resume` from `client_id`: takes the parked stream out of its space if the slot is free, it
    /// is this client's and it is still alive. Another client's stays parked; a dead one is released.
    pub fn take_for_resume(&mut self, client_id: Option<&str>) -> Ruling<P, P> {
        if let Some(running) = &self.current {
            return Ruling::settled(Err(LaunchError::Busy(running.request().app.title.clone())));
        }
        let Some(parked) = &self.parked else {
            return Ruling::settled(Err(LaunchError::NothingToResume));
        };
        if !owns(parked.request(), client_id) {
            return Ruling::settled(Err(LaunchError::NotYours(
                parked.request().app.title.clone(),
            )));
        }
        if let Some(release) = self.release_if_dead() {
            return Ruling {
                outcome: Err(LaunchError::NothingToResume),
                release: Some(release),
            };
        }
        match self.parked.take() {
            Some(parked) => Ruling::settled(Ok(parked)),
            None => Ruling::settled(Err(LaunchError::NothingToResume)),
        }
    }

    /// Puts a launched or resumed stream into the slot.
    pub fn start(&mut self, stream: S) {
        self.current = Some(stream);
    }

    /// `/cancel` from `client_id`, first step: the stream in the slot, to end and wait for, if it
    /// is this client's (`None`: the slot is empty). Another client's stream is refused.
    pub fn stream_to_cancel(&self, client_id: Option<&str>) -> Result<Option<S>, LaunchError> {
        match &self.current {
            Some(stream) if !owns(stream.request(), client_id) => {
                Err(LaunchError::NotYours(stream.request().app.title.clone()))
            }
            current => Ok(current.clone()),
        }
    }

    /// `/cancel` from `client_id`, second step (once its stream is gone, possibly parked): takes the
    /// parked stream for release if it is this client's; another client's stays and is refused.
    pub fn take_for_cancel(&mut self, client_id: Option<&str>) -> Result<Option<P>, LaunchError> {
        match &self.parked {
            Some(p) if !owns(p.request(), client_id) => {
                Err(LaunchError::NotYours(p.request().app.title.clone()))
            }
            _ => Ok(self.parked.take()),
        }
    }

    /// A torn-down stream's app and display go into the parking space; one parked earlier (there
    /// is one space) is handed out for release.
    pub fn park(&mut self, parked: P) -> Option<Release<P>> {
        self.parked.replace(parked).map(|old| Release {
            parked: old,
            why: "a newer stream was parked",
        })
    }

    /// Empties the slot once `is_it` (the stream just torn down) is what is in it; a newer stream
    /// that took the slot meanwhile stays. Harmless when repeated.
    pub fn vacate(&mut self, is_it: impl FnOnce(&S) -> bool) {
        if self.current.as_ref().is_some_and(is_it) {
            self.current = None;
        }
    }

    /// An operator stopped the parked app listed as `listing_id`: takes it for release, if it is
    /// still the one parked.
    pub fn take_listed(&mut self, listing_id: &str) -> Option<P> {
        if self
            .parked
            .as_ref()
            .is_some_and(|p| p.listing_id() == Some(listing_id))
        {
            return self.parked.take();
        }
        None
    }

    /// The parked stream, whatever it is (the host is shutting down).
    pub fn take_parked(&mut self) -> Option<P> {
        self.parked.take()
    }
}
