//! Display units, as Grafana unit ids.

/// A display unit. Each maps to one id from Grafana's unit registry
/// (`packages/grafana-data/src/valueFormats/categories.ts`), so a typo cannot
/// produce a unit Grafana silently ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Bytes, IEC prefixes (KiB, MiB…): what memory and disk sizes are.
    Bytes,
    /// Bytes per second, IEC prefixes.
    BytesPerSec,
    /// Bits per second, SI prefixes: how network links are rated.
    BitsPerSec,
    /// A ratio where 1 means 100 %.
    Percent01,
    /// A percentage where 100 means 100 %.
    Percent,
    /// Seconds, shown as a duration.
    Seconds,
    /// Milliseconds, shown as a duration.
    Milliseconds,
    /// HTTP or API requests per second.
    ReqPerSec,
    /// Generic operations per second.
    OpsPerSec,
    /// Events (log lines, notifications…) per second.
    EventsPerSec,
    /// Database rows per second.
    RowsPerSec,
    /// Transactions or other counted things per second.
    CountPerSec,
    /// Input/output operations per second.
    Iops,
    /// Network packets per second.
    PacketsPerSec,
    /// A plain number with SI-style abbreviation (1.2 K, 3 Mil).
    Short,
    /// A number shown as is. Use it for states such as up/down, with mappings.
    None,
}

impl Unit {
    /// The Grafana unit id written to `fieldConfig.defaults.unit`.
    pub fn grafana_id(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::BytesPerSec => "Bps",
            Unit::BitsPerSec => "bps",
            Unit::Percent01 => "percentunit",
            Unit::Percent => "percent",
            Unit::Seconds => "s",
            Unit::Milliseconds => "ms",
            Unit::ReqPerSec => "reqps",
            Unit::OpsPerSec => "ops",
            Unit::EventsPerSec => "eps",
            Unit::RowsPerSec => "rowsps",
            Unit::CountPerSec => "cps",
            Unit::Iops => "iops",
            Unit::PacketsPerSec => "pps",
            Unit::Short => "short",
            Unit::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_grafana_ids() {
        assert_eq!(Unit::Bytes.grafana_id(), "bytes");
        assert_eq!(Unit::Percent01.grafana_id(), "percentunit");
        assert_eq!(Unit::Seconds.grafana_id(), "s");
        assert_eq!(Unit::ReqPerSec.grafana_id(), "reqps");
        assert_eq!(Unit::BytesPerSec.grafana_id(), "Bps");
    }
}
