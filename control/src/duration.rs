//! Go-style durations as Traefik reads them: `100ms`, `1m30s`, or a bare integer meaning seconds.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A duration written the way Traefik accepts it in YAML, TOML, flags and Consul KV.
///
/// A bare integer (`42`) is a number of seconds; otherwise Go's `time.ParseDuration` syntax
/// applies: an optional sign, then one or more decimal numbers each followed by a unit
/// among `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (`1h30m`, `1.5s`, `-2ms`). Negative values are
/// kept (Traefik gives some of them a meaning, e.g. `flushInterval: -1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration {
    nanos: i64,
}

impl GoDuration {
    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { nanos }
    }

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs * 1_000_000_000,
        }
    }

    /// A duration of whole milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis * 1_000_000,
        }
    }

    /// Signed length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// True when the duration is zero or negative (Traefik's "disabled" for most timeouts).
    pub const fn is_positive(self) -> bool {
        self.nanos > 0
    }

    /// The duration as a `std::time::Duration`, with negative values clamped to zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.max(0) as u64)
    }
}

impl From<std::time::Duration> for GoDuration {
    fn from(d: std::time::Duration) -> Self {
        Self {
            nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(fail("empty value"));
        }
        if let Ok(secs) = s.parse::<i64>() {
            return secs
                .checked_mul(1_000_000_000)
                .map(Self::from_nanos)
                .ok_or_else(|| fail("out of range"));
        }
        let (negative, mut rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(Self::default());
        }
        if rest.is_empty() {
            return Err(fail("missing number"));
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let number = &rest[..number_len];
            if number.is_empty() || number == "." {
                return Err(fail("expected a number before the unit"));
            }
            let value: f64 = number.parse().map_err(|_| fail("malformed number"))?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(fail("missing unit (use ns, us, ms, s, m or h)")),
                _ => return Err(fail("unknown unit (use ns, us, ms, s, m or h)")),
            };
            rest = &rest[unit_len..];
            total += value * scale;
        }
        if total > i64::MAX as f64 {
            return Err(fail("out of range"));
        }
        let nanos = total.round() as i64;
        Ok(Self::from_nanos(if negative { -nanos } else { nanos }))
    }
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `Duration.String()`: `1h30m0s`, `1.5s`, `100ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.nanos.unsigned_abs();
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        if n == 0 {
            return f.write_str("0s");
        }
        if n < 1_000_000_000 {
            let (unit, scale) = match n {
                0..=999 => ("ns", 1u64),
                1_000..=999_999 => ("µs", 1_000),
                _ => ("ms", 1_000_000),
            };
            return write_fraction(f, n, scale).and_then(|_| f.write_str(unit));
        }
        let hours = n / 3_600_000_000_000;
        n %= 3_600_000_000_000;
        let minutes = n / 60_000_000_000;
        n %= 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fraction(f, n, 1_000_000_000)?;
        f.write_str("s")
    }
}

/// Writes `value / scale` with Go's trimmed decimal fraction (`1.5`, `2`, `0.001`).
fn write_fraction(f: &mut fmt::Formatter<'_>, value: u64, scale: u64) -> fmt::Result {
    write!(f, "{}", value / scale)?;
    let frac = value % scale;
    if frac == 0 {
        return Ok(());
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 100ms, 1m30s or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
                v.checked_mul(1_000_000_000)
                    .map(GoDuration::from_nanos)
                    .ok_or_else(|| E::custom("duration out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom("duration out of range"))
                    .and_then(|v| self.visit_i64(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> GoDuration {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn bare_integers_are_seconds() {
        assert_eq!(parse("42"), GoDuration::from_secs(42));
        assert_eq!(parse("0"), GoDuration::default());
        assert_eq!(parse("-1"), GoDuration::from_secs(-1));
    }

    #[test]
    fn go_syntax() {
        assert_eq!(parse("100ms"), GoDuration::from_millis(100));
        assert_eq!(parse("1m30s"), GoDuration::from_secs(90));
        assert_eq!(parse("1.5s"), GoDuration::from_millis(1500));
        assert_eq!(parse("2h"), GoDuration::from_secs(7200));
        assert_eq!(parse("10us"), GoDuration::from_nanos(10_000));
        assert_eq!(parse("10µs"), GoDuration::from_nanos(10_000));
        assert_eq!(parse("-2ms"), GoDuration::from_millis(-2));
        assert_eq!(parse("3ns"), GoDuration::from_nanos(3));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "ms", "10x", "1.2.3s", "s10", "-"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad:?} accepted");
        }
        let err = "5 minutes".parse::<GoDuration>().unwrap_err();
        assert!(err.to_string().contains("5 minutes"), "{err}");
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(GoDuration::from_secs(90).to_string(), "1m30s");
        assert_eq!(GoDuration::from_millis(100).to_string(), "100ms");
        assert_eq!(GoDuration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(GoDuration::from_secs(3600).to_string(), "1h0m0s");
        assert_eq!(GoDuration::default().to_string(), "0s");
        assert_eq!(GoDuration::from_secs(-1).to_string(), "-1s");
        for s in ["1m30s", "100ms", "1.5s", "1h0m0s", "250µs", "42s"] {
            assert_eq!(parse(s).to_string(), s);
        }
    }
}
