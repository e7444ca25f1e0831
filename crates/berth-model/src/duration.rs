//! Durations as Kubernetes components and berth's own options write them, read once: the
//! command line (`--timeout 5m`, `berth simulate --duration 7d`), load shapes, and the
//! cluster-autoscaler's duration flags (`--scale-down-unneeded-time=10m0s`).
//!
//! What is accepted is Go's `time.ParseDuration` — the parser of every Kubernetes component's
//! duration flag — plus one unit of berth's: a sequence of decimal numbers, each with an
//! optional fraction and a unit (`300ms`, `1.5s`, `10m`, `1h30m`, `2h45m30.5s`), units `ns`,
//! `us` (or `µs`), `ms`, `s`, `m`, `h`, and `d` for 24 hours (`7d`; Go has no day unit, so a
//! component given `1d` refuses to start — berth reads it only where berth is the reader).
//! Like Go, a bare `0` is a duration and any other bare number is not (seconds or minutes?),
//! and there are no spaces. Unlike Go, a negative duration (`-1s`) is refused: nothing berth
//! reads can be negative.

use std::fmt;
use std::time::Duration;

/// A text that is not a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    /// The text as given.
    pub input: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a duration (write it like 300ms, 1.5s, 10m, 1h30m or 1d)",
            self.input
        )
    }
}

impl std::error::Error for DurationError {}

/// Nanoseconds per unit; the longest spelling first so `ms` is not read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration (grammar in the module docs). Exact to the nanosecond; a fraction finer
/// than that is dropped, as Go drops it.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError {
        input: s.to_string(),
    };
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad()); // no digits: `m`, `.s`, `-1s`
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let per = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(bad)?;
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut part = whole.checked_mul(per).ok_or_else(bad)?;
        // The fraction, digit by digit, as Go scales it (never more than 9 digits matter).
        let mut scale = per;
        for d in frac.bytes().take(30) {
            scale /= 10;
            part += u128::from(d - b'0') * scale;
        }
        nanos = nanos.checked_add(part).ok_or_else(bad)?;
        rest = next;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Whole seconds, rounded up (`500ms` → 1): the step of simulated time.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Seconds written the way berth writes durations (`90s`, `5m`, `2h30m`, `7d`); [`parse`]
/// reads them back.
pub fn format_seconds(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<u128> {
        parse(s).ok().map(|d| d.as_millis())
    }

    #[test]
    fn go_durations() {
        assert_eq!(ms("300ms"), Some(300));
        assert_eq!(ms("1.5s"), Some(1500));
        assert_eq!(ms("10m"), Some(600_000));
        assert_eq!(ms("10m0s"), Some(600_000));
        assert_eq!(ms("1h30m"), Some(5_400_000));
        assert_eq!(ms("2h45m30.5s"), Some(9_930_500));
        assert_eq!(ms(".5s"), Some(500));
        assert_eq!(ms("1.s"), Some(1000));
        assert_eq!(ms("+5s"), Some(5000));
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms("0s"), Some(0));
        assert_eq!(parse("1500us"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse("1500µs"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(
            parse("0.1ns"),
            Ok(Duration::ZERO),
            "finer than 1ns is dropped"
        );
    }

    #[test]
    fn days_are_berths_unit() {
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(129_600)));
    }

    #[test]
    fn what_is_not_a_duration() {
        for bad in [
            "",
            "5",
            "90",
            "m",
            "5x",
            "-1s",
            "1.5",
            ".s",
            "1 s",
            " 1s",
            "1s ",
            "1h-5m",
            "1e3s",
            "1S",
            "99999999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "`{bad}` accepted");
        }
        assert_eq!(
            parse("soon").unwrap_err().to_string(),
            "`soon` is not a duration (write it like 300ms, 1.5s, 10m, 1h30m or 1d)"
        );
    }

    #[test]
    fn seconds_round_up_and_format() {
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(90)), 90);
        assert_eq!(format_seconds(5400), "1h30m");
        assert_eq!(format_seconds(604_800), "7d");
        assert_eq!(format_seconds(0), "0s");
        for s in [1, 59, 61, 3599, 90_061] {
            assert_eq!(parse(&format_seconds(s)), Ok(Duration::from_secs(s)));
        }
    }
}
