//! What `--full` shows while it works: on a terminal, records checked of the checkpoint's size,
//! the rate and the time left (stderr, redrawn in place); nothing when stderr is not a terminal.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar for `size` records, drawn only when stderr is a terminal.
    pub fn new(size: u64) -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30} {human_pos}/{human_len} records checked, {per_sec}, {eta} left",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// `n` more records checked (the log may hold more than the checkpoint signs).
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
        if self
            .bar
            .length()
            .is_some_and(|len| self.bar.position() > len)
        {
            self.bar.set_length(self.bar.position());
        }
    }

    /// Clears the bar; the time spent.
    pub fn finish(self) -> Duration {
        self.bar.finish_and_clear();
        self.started.elapsed()
    }
}
