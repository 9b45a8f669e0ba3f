use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A duration as compose writes it (`500ms`, `15s`, `2m`, `1h`, `1m30s`),
/// kept with its text so the rendered stack shows what the person wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duration {
    text: String,
    nanos: i64,
}

/// A byte size as compose writes it (`512M`, `4G`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteSize {
    text: String,
    bytes: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BadQuantity {
    #[error("`{0}` is not a duration: write e.g. `500ms`, `15s`, `2m`, `1h30m`")]
    Duration(String),
    #[error("`{0}` is not a byte size: write e.g. `64M`, `1G`, `512k`")]
    Size(String),
}

impl Duration {
    pub fn nanos(&self) -> i64 {
        self.nanos
    }
}

impl ByteSize {
    pub fn bytes(&self) -> i64 {
        self.bytes
    }
}

impl FromStr for Duration {
    type Err = BadQuantity;

    fn from_str(s: &str) -> Result<Duration, BadQuantity> {
        let bad = || BadQuantity::Duration(s.to_owned());
        let mut rest = s;
        let mut nanos: i64 = 0;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let (unit, len) = if rest.starts_with("ms") {
                (1_000_000, 2)
            } else if rest.starts_with('s') {
                (1_000_000_000, 1)
            } else if rest.starts_with('m') {
                (60_000_000_000, 1)
            } else if rest.starts_with('h') {
                (3_600_000_000_000, 1)
            } else {
                return Err(bad());
            };
            rest = &rest[len..];
            nanos = n.checked_mul(unit).and_then(|v| nanos.checked_add(v)).ok_or_else(bad)?;
        }
        Ok(Duration { text: s.to_owned(), nanos })
    }
}

impl FromStr for ByteSize {
    type Err = BadQuantity;

    fn from_str(s: &str) -> Result<ByteSize, BadQuantity> {
        let bad = || BadQuantity::Size(s.to_owned());
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if split == 0 {
            return Err(bad());
        }
        let n: i64 = s[..split].parse().map_err(|_| bad())?;
        // Docker reads these suffixes as binary multiples (RAMInBytes).
        let unit: i64 = match s[split..].to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1 << 10,
            "m" | "mb" => 1 << 20,
            "g" | "gb" => 1 << 30,
            _ => return Err(bad()),
        };
        let bytes = n.checked_mul(unit).ok_or_else(bad)?;
        Ok(ByteSize { text: s.to_owned(), bytes })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("15s".parse::<Duration>().unwrap().nanos(), 15_000_000_000);
        assert_eq!("1m30s".parse::<Duration>().unwrap().nanos(), 90_000_000_000);
        assert_eq!("250ms".parse::<Duration>().unwrap().nanos(), 250_000_000);
        for bad in ["", "15", "s", "1d", "1.5s", "-1s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!("64M".parse::<ByteSize>().unwrap().bytes(), 64 << 20);
        assert_eq!("4G".parse::<ByteSize>().unwrap().bytes(), 4 << 30);
        for bad in ["", "M", "1.5G", "4T"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }
}
