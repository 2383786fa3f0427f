//! The time the JWKS cache runs on: the system's, or a manual one that tests move forward.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A monotonic clock. [`Clock::system`] in services; [`Clock::manual`] in tests, which stands
/// still until [`Clock::advance`] moves it, so that a test can pass a 30 s interval at once.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Manual>>,
}

struct Manual {
    start: Instant,
    elapsed: Mutex<Duration>,
    moved: watch::Sender<()>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that starts now and moves only when advanced.
    pub fn manual() -> Self {
        Self {
            manual: Some(Arc::new(Manual {
                start: Instant::now(),
                elapsed: Mutex::new(Duration::ZERO),
                moved: watch::channel(()).0,
            })),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(m) => m.start + *m.elapsed.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a manual clock forward (wakes its sleepers); does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(m) = &self.manual {
            *m.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
            m.moved.send_replace(());
        }
    }

    /// Waits until this clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: Instant) {
        match &self.manual {
            None => tokio::time::sleep_until(deadline.into()).await,
            Some(m) => {
                let mut moved = m.moved.subscribe();
                while self.now() < deadline {
                    if moved.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.manual.is_some() {
            "Clock(manual)"
        } else {
            "Clock(system)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_advanced() {
        let clock = Clock::manual();
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t0);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(t0 + Duration::from_secs(30)).await }
        });
        clock.advance(Duration::from_secs(10));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(20));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("the sleeper wakes once the clock reaches its deadline")
            .unwrap();
        assert_eq!(clock.now(), t0 + Duration::from_secs(30));
    }
}
