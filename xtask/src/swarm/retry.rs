//! Retrying engine calls that failed for a passing reason: the connection
//! was refused or reset (a daemon restarting), the engine answered 5xx (a
//! manager without a leader during an election, a proxy in between), or
//! the call timed out. A 4xx is the engine's considered answer and is never
//! retried. Backoff doubles from 200 ms up to 3 s, bounded by a deadline
//! and an attempt count, so a dead engine still fails within the deadline.
//!
//! Only idempotent calls, or calls whose caller checks what happened
//! before trying again, go through here: a create whose answer was lost
//! comes back as 409 on the retry, and the callers of create look the
//! object up by name and check that it is theirs.

use std::future::Future;
use std::time::Duration;

/// How long and how often.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub until: tokio::time::Instant,
    pub attempts: u32,
}

impl Patience {
    /// Up to `secs` seconds from now, at most 8 attempts.
    pub fn for_secs(secs: u64) -> Patience {
        Patience { until: tokio::time::Instant::now() + Duration::from_secs(secs), attempts: 8 }
    }

    /// Until `deadline` (but at least 5 s from now, so a call made just
    /// before a deadline still gets a retry), at most 8 attempts.
    pub fn until(deadline: tokio::time::Instant) -> Patience {
        let floor = tokio::time::Instant::now() + Duration::from_secs(5);
        Patience { until: deadline.max(floor), attempts: 8 }
    }
}

/// Whether `err` may pass if the same call is made again.
pub fn is_transient(err: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    match err {
        Error::DockerResponseServerError { status_code, message } => *status_code >= 500 && !is_permanent_5xx(message),
        Error::IOError { .. }
        | Error::HyperResponseError { .. }
        | Error::RequestTimeoutError
        | Error::HyperLegacyError { .. }
        | Error::SocketNotFoundError(_) => true,
        _ => false,
    }
}

/// 5xx answers that say something definite: the engine 20.10 reports a
/// stale version index as a 500 ("update out of sequence"); retrying with
/// the same index can only fail again, the caller decides what to do.
fn is_permanent_5xx(message: &str) -> bool {
    message.contains("out of sequence")
}

/// Runs `call` until it succeeds, fails for good, or patience runs out;
/// `on_retry` hears about every transient failure (for progress output).
pub async fn transient<T, F, Fut>(
    patience: Patience,
    mut on_retry: impl FnMut(&bollard::errors::Error),
    mut call: F,
) -> Result<T, bollard::errors::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, bollard::errors::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && attempt < patience.attempts => {
                let wake = tokio::time::Instant::now() + delay;
                if wake > patience.until {
                    return Err(e);
                }
                on_retry(&e);
                tokio::time::sleep_until(wake).await;
                delay = (delay * 2).min(Duration::from_secs(3));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError { status_code: code, message: message.into() }
    }

    #[test]
    fn classification() {
        assert!(is_transient(&server(503, "rpc error: code = Unavailable desc = the swarm does not have a leader")));
        assert!(is_transient(&server(500, "injected")));
        assert!(!is_transient(&server(500, "rpc error: code = Unknown desc = update out of sequence")));
        assert!(!is_transient(&server(409, "name conflicts with an existing object")));
        assert!(!is_transient(&server(404, "no such service")));
        assert!(is_transient(&bollard::errors::Error::IOError {
            err: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")
        }));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn retries_transient_errors_then_gives_up() {
        let mut calls = 0;
        let r: Result<(), _> = transient(
            Patience::for_secs(60),
            |_| {},
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(server(503, "no leader")) } else { Ok(()) } }
            },
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), _> = transient(
            Patience::for_secs(60),
            |_| {},
            || {
                calls += 1;
                async { Err(server(404, "gone")) }
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1, "a 4xx is final");

        let mut calls = 0;
        let r: Result<(), _> = transient(
            Patience::for_secs(60),
            |_| {},
            || {
                calls += 1;
                async { Err(server(500, "still broken")) }
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 8, "bounded by the attempt count");
    }
}
