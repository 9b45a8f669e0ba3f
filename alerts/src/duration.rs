//! A Prometheus duration as a type, so `for: "5 m"` or `for: "15"` cannot be written.

use std::fmt;

/// A whole number of seconds, rendered in Prometheus' duration syntax (`1h30m`).
///
/// Seconds are the finest unit any rule or test here needs; sub-second
/// durations would only invite flapping alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    secs: u64,
}

impl Duration {
    pub const ZERO: Duration = Duration { secs: 0 };

    pub const fn seconds(secs: u64) -> Self {
        Duration { secs }
    }

    pub const fn minutes(m: u64) -> Self {
        Duration { secs: m * 60 }
    }

    pub const fn hours(h: u64) -> Self {
        Duration { secs: h * 3600 }
    }

    pub const fn days(d: u64) -> Self {
        Duration { secs: d * 86_400 }
    }

    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    pub const fn is_zero(self) -> bool {
        self.secs == 0
    }
}

impl std::ops::Add for Duration {
    type Output = Duration;

    fn add(self, rhs: Duration) -> Duration {
        Duration { secs: self.secs + rhs.secs }
    }
}

impl fmt::Display for Duration {
    /// Largest units first, without weeks or years: `3d` reads better in an
    /// SLO window than `3d` vs `1w` switching as numbers grow.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.secs;
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            let n = rest / size;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn renders_prometheus_syntax() {
        assert_eq!(Duration::ZERO.to_string(), "0s");
        assert_eq!(Duration::seconds(90).to_string(), "1m30s");
        assert_eq!(Duration::minutes(5).to_string(), "5m");
        assert_eq!(Duration::hours(1).to_string(), "1h");
        assert_eq!(Duration::days(3).to_string(), "3d");
        assert_eq!(Duration::seconds(86_400 + 3600 + 61).to_string(), "1d1h1m1s");
    }
}
