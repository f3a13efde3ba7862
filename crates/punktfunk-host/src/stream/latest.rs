//! The hand-off between the capture thread and the encoder: a slot of depth one. A newer picture
//! replaces one the encoder has not taken yet (drop-oldest: the encoder always starts on the newest
//! screen, and a slow encoder costs frames, not latency).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What may be waiting in the slot, with a rule for which of two is worth keeping.
pub trait Supersede {
    /// Whether `self`, offered after `older`, should take its place. (A "nothing changed" note must
    /// not push out a real picture the encoder has not seen.)
    fn supersedes(&self, older: &Self) -> bool;

    /// Whether losing this item loses a frame (counted in [`Latest::dropped`]); a note does not.
    fn is_frame(&self) -> bool {
        true
    }
}

pub struct Latest<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    item: Option<T>,
    closed: bool,
    /// Items replaced before the encoder took them.
    dropped: u64,
}

/// What [`Latest::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    Item(T),
    TimedOut,
    Closed,
}

impl<T: Supersede> Latest<T> {
    pub fn new() -> Self {
        Latest {
            state: Mutex::new(State {
                item: None,
                closed: false,
                dropped: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers `item`. Returns whichever of it and the waiting item was not kept (for recycling its
    /// buffers), or `None` if the slot was empty.
    pub fn offer(&self, item: T) -> Option<T> {
        let mut state = self.lock();
        let displaced = match state.item.take() {
            None => {
                state.item = Some(item);
                None
            }
            Some(older) if item.supersedes(&older) => {
                state.dropped += u64::from(older.is_frame());
                state.item = Some(item);
                Some(older)
            }
            Some(older) => {
                state.item = Some(older);
                Some(item)
            }
        };
        drop(state);
        self.ready.notify_one();
        displaced
    }

    /// Takes the waiting item, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Taken<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(item) = state.item.take() {
                return Taken::Item(item);
            }
            if state.closed {
                return Taken::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Taken::TimedOut;
            }
            state = self
                .ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Takes the waiting item back if `wanted` says so (the producer reuses a picture the
    /// consumer has not started on).
    pub fn reclaim(&self, wanted: impl FnOnce(&T) -> bool) -> Option<T> {
        let mut state = self.lock();
        if state.item.as_ref().is_some_and(wanted) {
            state.dropped += u64::from(state.item.as_ref().is_some_and(T::is_frame));
            return state.item.take();
        }
        None
    }

    /// No more items will come; a waiting `take` returns `Closed` once the slot is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Items that were replaced before the encoder took them.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

impl<T: Supersede> Default for Latest<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug, PartialEq, Eq)]
    enum Item {
        Picture(u32),
        Unchanged,
    }

    impl Supersede for Item {
        fn supersedes(&self, older: &Self) -> bool {
            matches!(self, Item::Picture(_)) || matches!(older, Item::Unchanged)
        }
        fn is_frame(&self) -> bool {
            matches!(self, Item::Picture(_))
        }
    }

    #[test]
    fn keeps_the_newest_picture_and_never_trades_one_for_a_note() {
        let slot = Latest::new();
        assert_eq!(slot.offer(Item::Picture(1)), None);
        assert_eq!(slot.offer(Item::Picture(2)), Some(Item::Picture(1)));
        assert_eq!(slot.offer(Item::Unchanged), Some(Item::Unchanged));
        assert_eq!(slot.dropped(), 1);
        assert_eq!(slot.take(Duration::ZERO), Taken::Item(Item::Picture(2)));
        assert_eq!(slot.take(Duration::from_millis(5)), Taken::TimedOut);
        assert_eq!(slot.offer(Item::Unchanged), None);
        assert_eq!(slot.offer(Item::Picture(3)), Some(Item::Unchanged));
        assert_eq!(slot.reclaim(|i| *i == Item::Unchanged), None);
        assert_eq!(
            slot.reclaim(|i| matches!(i, Item::Picture(_))),
            Some(Item::Picture(3))
        );
        assert_eq!(slot.dropped(), 2);
        slot.offer(Item::Picture(4));
        slot.close();
        assert_eq!(slot.take(Duration::ZERO), Taken::Item(Item::Picture(4)));
        assert_eq!(slot.take(Duration::from_secs(5)), Taken::Closed);
    }

    #[test]
    fn a_waiting_encoder_wakes_when_a_picture_lands() {
        let slot = Arc::new(Latest::new());
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                slot.offer(Item::Picture(7));
            })
        };
        let started = Instant::now();
        assert_eq!(
            slot.take(Duration::from_secs(5)),
            Taken::Item(Item::Picture(7))
        );
        assert!(started.elapsed() < Duration::from_secs(4));
        producer.join().unwrap();
    }
}
