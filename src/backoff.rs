//! Waiting between retries, shared by everything that reconnects or retries: ingest after
//! a failed step, each web process's live-feed subscription, and the browser's WebSocket.
//! The wait doubles from `first` up to `most`, and each one is drawn at random from its
//! upper half ("equal jitter"), so that many processes or browsers cut off by the same
//! outage do not all come back in the same instant. The caller supplies the randomness
//! (`rand` on the server, `Math.random` in the browser), which keeps this pure.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    most: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, most: Duration) -> Self {
        Self {
            first,
            most,
            next: first,
        }
    }

    /// The next wait, given a random number in `[0, 1)`: between half of the current
    /// step and the step itself. The step then doubles, up to `most`.
    pub fn delay(&mut self, random: f64) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(self.most);
        step.mul_f64(0.5 + random.clamp(0.0, 1.0) / 2.0)
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_most_each_drawn_from_its_upper_half() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(backoff.delay(0.0), Duration::from_millis(50));
        assert_eq!(backoff.delay(1.0), Duration::from_millis(200));
        assert_eq!(backoff.delay(0.5), Duration::from_millis(300));
        assert_eq!(backoff.delay(1.0), Duration::from_millis(500), "capped");
        backoff.reset();
        assert_eq!(backoff.delay(1.0), Duration::from_millis(100));
        assert_eq!(
            backoff.delay(7.0),
            Duration::from_millis(200),
            "out of range: clamped"
        );
    }
}
