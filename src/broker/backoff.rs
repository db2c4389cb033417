//! Exponential reconnect delay: 100 ms doubling up to a 5 s cap, with jitter so
//! several instances do not reconnect in lockstep after a broker restart.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            cap,
            next: initial,
        }
    }

    /// The delay to wait now; the following one is twice as long (capped).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        // ±20 % jitter from the clock's nanoseconds: no RNG needed for this.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
        base.mul_f64(factor).min(self.cap)
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
        assert!(b.next_delay() >= Duration::from_secs(4));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
