//! Live progress: one line per service (indicatif) when stderr is a
//! terminal; otherwise one plain, timestamped log line per change of state,
//! so CI logs stay readable and short.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    last: Mutex<HashMap<String, String>>,
    start: Instant,
}

impl Progress {
    /// Bars on a terminal, log lines elsewhere.
    pub fn new() -> Progress {
        let multi =
            std::io::stderr().is_terminal().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi, bars: Mutex::default(), last: Mutex::default(), start: Instant::now() }
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.start.elapsed().as_secs_f64())
    }

    /// The state of one service changed (repeats are not printed).
    pub fn service(&self, name: &str, message: &str) {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(name).is_some_and(|m| m == message) {
                return;
            }
            last.insert(name.to_owned(), message.to_owned());
        }
        match &self.multi {
            Some(multi) => {
                let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
                let bar = bars.entry(name.to_owned()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<24} {wide_msg} {elapsed:>4}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(name.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(message.to_owned());
            }
            None => eprintln!("{} {name}: {message}", self.stamp()),
        }
    }

    /// A line about the whole rollout.
    pub fn note(&self, message: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(format!("{} {message}", self.stamp()));
            }
            None => eprintln!("{} {message}", self.stamp()),
        }
    }

    /// Stops the bars (their last state stays on screen).
    pub fn finish(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for (_, bar) in bars.drain() {
            bar.finish();
        }
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}
