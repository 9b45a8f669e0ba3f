//! Wall-clock timestamps as the engine writes them (RFC 3339, UTC), without a
//! date crate: the engine's timestamps only need parsing and comparing, and
//! ours only formatting.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp { secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() }
    }

    /// Seconds from `self` to `later` (negative when `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> f64 {
        (later.secs - self.secs) as f64 + (f64::from(later.nanos) - f64::from(self.nanos)) / 1e9
    }

    /// `2026-11-26T14:03:03Z` (whole seconds: for people and records).
    pub fn rfc3339(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// Parses `2026-11-26T14:03:03.244297996Z` (the engine's form); offsets
    /// other than `Z` are accepted as `+hh:mm`/`-hh:mm`.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || (b[10] != b'T' && b[10] != b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
        let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
            let padded = format!("{:0<9}", &frac[..digits.min(9)]);
            nanos = padded.parse().ok()?;
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
            }
            _ => return None,
        };
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
        Some(Timestamp { secs, nanos })
    }
}

// Howard Hinnant's algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Timestamp::parse("2026-11-26T14:03:03.244297996Z").unwrap();
        assert_eq!(t.nanos, 244_297_996);
        assert_eq!(t.rfc3339(), "2026-11-26T14:03:03Z");
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z").unwrap().secs, 0);
        assert_eq!(Timestamp::parse("2000-03-01T01:00:00+01:00").unwrap().rfc3339(), "2000-03-01T00:00:00Z");
        let a = Timestamp::parse("2026-11-26T14:03:05.1Z").unwrap();
        let b = Timestamp::parse("2026-11-26T14:03:05.123Z").unwrap();
        assert!(a < b);
        assert!(Timestamp::parse("0001-01-01T00:00:00Z").is_some());
        assert!(Timestamp::parse("garbage").is_none());
    }
}
