//! Go's number formatting, as Prometheus' template functions use it.
//!
//! promtool compares rendered annotations byte for byte, so the expected text
//! in generated tests must match Go's `%.4g`, `%v` and the `humanize*`
//! functions of Prometheus' `template` package exactly.

/// Go's `fmt.Sprintf("%.{prec}g", v)` for finite `v`.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    // Rust's `{:.Ne}` rounds the exact binary value correctly, as Go does.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').expect("scientific notation");
    let exp: i32 = exp.parse().expect("exponent");
    if exp < -4 || exp >= prec as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

/// Go's `%v` (and `strconv.FormatFloat(v, 'g', -1, 64)`): shortest exact
/// digits, exponent form outside `1e-4 <= |v| < 1e21`.
pub fn fmt_v(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return fmt_g(v, 1);
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        format!("{v}")
    } else {
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').expect("scientific notation");
        let exp: i32 = exp.parse().expect("exponent");
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

const SMALL_PREFIXES: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in SMALL_PREFIXES {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanize1024`: binary prefixes, only for values of 1 or more.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanizePercentage`: a ratio shown as a percentage.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", fmt_g(v * 100.0, 4))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return fmt_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let total = v as i64;
        let (seconds, minutes, hours, days) = (total % 60, (total / 60) % 60, (total / 3600) % 24, total / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", fmt_g(v, 4))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in SMALL_PREFIXES {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formatting_matches_go() {
        // Reference values from Go's fmt.Sprintf("%.4g", v).
        assert_eq!(fmt_g(0.95 * 100.0, 4), "95");
        assert_eq!(fmt_g(0.01584 * 100.0, 4), "1.584");
        assert_eq!(fmt_g(0.5, 4), "0.5");
        assert_eq!(fmt_g(1234.5678, 4), "1235");
        assert_eq!(fmt_g(12345.678, 4), "1.235e+04");
        assert_eq!(fmt_g(0.00001234, 4), "1.234e-05");
        assert_eq!(fmt_g(0.0001234, 4), "0.0001234");
        assert_eq!(fmt_g(100.0, 4), "100");
    }

    #[test]
    fn v_formatting_matches_go() {
        assert_eq!(fmt_v(0.1), "0.1");
        assert_eq!(fmt_v(100.0), "100");
        assert_eq!(fmt_v(0.00001), "1e-05");
        assert_eq!(fmt_v(1e21), "1e+21");
        assert_eq!(fmt_v(3.0), "3");
    }

    #[test]
    fn humanizers() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(2_500_000.0), "2.5M");
        assert_eq!(humanize(0.25), "250m");
        assert_eq!(humanize(12.0), "12");
        assert_eq!(humanize1024(2048.0), "2ki");
        assert_eq!(humanize_percentage(0.0158), "1.58%");
        assert_eq!(humanize_percentage(0.95), "95%");
        assert_eq!(humanize_duration(17_000.0), "4h 43m 20s");
        assert_eq!(humanize_duration(90_061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(42.5), "42.5s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(0.0), "0s");
    }
}
