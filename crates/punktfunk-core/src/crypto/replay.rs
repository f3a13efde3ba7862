//! Sliding-window replay protection over 64-bit packet sequence numbers.

/// Width of the window: packets more than this far behind the newest accepted one are "too old".
pub(super) const WINDOW_BITS: u64 = 4096;
const WORDS: usize = (WINDOW_BITS / 64) as usize;

/// Remembers which of the last `WINDOW_BITS` (4096) sequence numbers were accepted.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// One past the highest accepted sequence number (0 = nothing accepted yet).
    top: u64,
    bits: [u64; WORDS],
}

/// Outcome of checking a sequence number against the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCheck {
    /// Never seen and inside (or ahead of) the window: accept it.
    Fresh,
    /// Already accepted once: drop it.
    Replayed,
    /// Further behind the newest accepted number than the window covers: drop it.
    TooOld,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            top: 0,
            bits: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// An empty window: every sequence number is fresh.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `seq` without recording it; call [`ReplayWindow::accept`] once the packet authenticated.
    pub fn check(&self, seq: u64) -> ReplayCheck {
        if seq >= self.top {
            return ReplayCheck::Fresh;
        }
        if self.top - seq > WINDOW_BITS {
            return ReplayCheck::TooOld;
        }
        if self.is_set(seq) {
            ReplayCheck::Replayed
        } else {
            ReplayCheck::Fresh
        }
    }

    /// Records `seq` as seen. Only call after [`ReplayWindow::check`] said `Fresh` and the packet opened.
    pub fn accept(&mut self, seq: u64) {
        if seq >= self.top {
            let advance = (seq - self.top).saturating_add(1);
            if advance >= WINDOW_BITS {
                self.bits = [0; WORDS];
            } else {
                for s in self.top..=seq {
                    self.clear(s);
                }
            }
            self.top = seq.saturating_add(1);
        }
        self.set(seq);
    }

    fn slot(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW_BITS;
        ((i / 64) as usize, 1u64 << (i % 64))
    }
    fn is_set(&self, seq: u64) -> bool {
        let (w, m) = Self::slot(seq);
        self.bits[w] & m != 0
    }
    fn set(&mut self, seq: u64) {
        let (w, m) = Self::slot(seq);
        self.bits[w] |= m;
    }
    fn clear(&mut self, seq: u64) {
        let (w, m) = Self::slot(seq);
        self.bits[w] &= !m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check(0), ReplayCheck::Fresh);
        w.accept(0);
        assert_eq!(w.check(0), ReplayCheck::Replayed);
        w.accept(WINDOW_BITS + 10);
        assert_eq!(w.check(11), ReplayCheck::Fresh);
        assert_eq!(w.check(10), ReplayCheck::TooOld);
        w.accept(11);
        assert_eq!(w.check(11), ReplayCheck::Replayed);
        assert_eq!(w.check(WINDOW_BITS + 10), ReplayCheck::Replayed);
        assert_eq!(w.check(u64::MAX), ReplayCheck::Fresh);
    }

    proptest! {
        /// The window agrees with a set of everything accepted, within its width.
        #[test]
        fn matches_reference(seqs in proptest::collection::vec(0u64..20_000, 1..2_000)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::HashSet::new();
            let mut top = 0u64;
            for s in seqs {
                let expect = if s >= top {
                    ReplayCheck::Fresh
                } else if top - s > WINDOW_BITS {
                    ReplayCheck::TooOld
                } else if seen.contains(&s) {
                    ReplayCheck::Replayed
                } else {
                    ReplayCheck::Fresh
                };
                prop_assert_eq!(w.check(s), expect);
                if expect == ReplayCheck::Fresh {
                    w.accept(s);
                    seen.insert(s);
                    top = top.max(s + 1);
                }
            }
        }
    }
}
