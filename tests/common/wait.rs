//! Waiting for what the daemon, the broker or the database does: the one polling loop of
//! the tests. A wait that times out says what it waited for and the last value it saw.
use std::fmt::{Debug, Display};
use std::time::Duration;
use tokio::time::Instant;

/// How long [`poll_until`] sleeps between two probes.
const EVERY: Duration = Duration::from_millis(50);

/// Runs `probe` every 50 ms until `done` holds for its value, and returns that value;
/// after `timeout`, the last value probed is the error. The probe runs at least once, and
/// once more at the deadline. For a caller that adds to the failure (a daemon's log), or
/// that goes on with the last value (and asserts on it).
pub async fn poll_until<V>(
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> V,
    done: impl Fn(&V) -> bool,
) -> Result<V, V> {
    let deadline = Instant::now() + timeout;
    loop {
        let value = probe().await;
        if done(&value) {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(value);
        }
        tokio::time::sleep(EVERY.min(deadline - now)).await;
    }
}

/// [`poll_until`], failing the test on a timeout with `what` it waited for and the last
/// value seen.
pub async fn wait_until<V: Debug>(
    what: impl Display,
    timeout: Duration,
    probe: impl AsyncFnMut() -> V,
    done: impl Fn(&V) -> bool,
) -> V {
    match poll_until(timeout, probe, done).await {
        Ok(value) => value,
        Err(last) => panic!("waited {timeout:?} for {what}; last seen: {last:?}"),
    }
}
