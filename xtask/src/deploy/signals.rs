//! SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed terminal or SSH session),
//! caught for the whole run of `deploy`, `rollback` and `status` from the
//! first step, so that no phase that has changed something is cut short:
//! each phase looks at [`Signals`] where stopping is safe (before the lock,
//! before the journal, during apply and watch) and otherwise finishes what
//! it does (recovery, revert, recording the outcome). Later signals only
//! say what is going on.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// The first signal received, if any.
#[derive(Debug, Clone)]
pub struct Signals {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Signals {
    /// Starts listening (call inside the runtime, before the first step).
    pub fn install() -> anyhow::Result<Signals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "interrupted (SIGINT)",
                    _ = term.recv() => "terminated (SIGTERM)",
                    _ = hup.recv() => "hung up (SIGHUP)",
                };
                if tx.borrow().is_some() {
                    eprintln!(
                        "{name} again: the run is already stopping and finishes what it changed by itself \
                         (if it is killed, the next deploy/status/rollback finishes it)"
                    );
                } else {
                    let _ = tx.send(Some(name));
                }
            }
        });
        Ok(Signals { rx })
    }

    /// The first signal, if one came.
    pub fn fired(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Resolves with the first signal (at once if it already came).
    pub async fn next(&self) -> &'static str {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or("interrupted"),
            Err(_) => std::future::pending().await,
        }
    }
}

/// A signal before anything changed: the run stops, nothing to undo.
#[derive(Debug)]
pub struct StoppedEarly(pub &'static str);

impl std::fmt::Display for StoppedEarly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} before any change: nothing was changed", self.0)
    }
}

impl std::error::Error for StoppedEarly {}
