//! Timestamps as sources record them, formatted as RFC 3339 in UTC.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with nanosecond precision, relative to the Unix epoch.
///
/// Sources hand back times from before 1970 too (NTFS counts from 1601), so
/// the seconds are signed; `nanos` is always in `0..1_000_000_000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Builds a timestamp, normalising `nanos` into range.
    pub fn new(secs: i64, nanos: i64) -> Self {
        let carry = nanos.div_euclid(1_000_000_000);
        let nanos = nanos.rem_euclid(1_000_000_000);
        Timestamp {
            secs: secs.saturating_add(carry),
            nanos: nanos as u32,
        }
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// Converts a `SystemTime`, including times before the epoch.
    pub fn from_system(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp::new(
                d.as_secs().min(i64::MAX as u64) as i64,
                d.subsec_nanos() as i64,
            ),
            Err(e) => {
                let d = e.duration();
                Timestamp::new(
                    -(d.as_secs().min(i64::MAX as u64) as i64),
                    -(d.subsec_nanos() as i64),
                )
            }
        }
    }

    /// Seconds and nanoseconds as PAX writes them (`-12.5`, `1700000000.000000001`).
    pub fn to_pax(self) -> String {
        if self.nanos == 0 {
            return self.secs.to_string();
        }
        if self.secs >= 0 {
            format!("{}.{:09}", self.secs, self.nanos)
        } else {
            // PAX wants the value itself: -1 s + 0.25 s is -0.75.
            let total = (self.secs as i128) * 1_000_000_000 + self.nanos as i128;
            let abs = total.unsigned_abs();
            format!("-{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
        }
    }

    /// A compact UTC form for file names: `20261123T113000Z`.
    pub fn to_compact(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.secs);
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

/// Splits seconds since the epoch into UTC year, month, day, hour, minute, second.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with nanoseconds: `2026-11-23T11:30:00.123456789Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = civil(self.secs);
        if !(0..=9999).contains(&y) || self.nanos >= 1_000_000_000 {
            return write!(
                f,
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
                self.nanos
            );
        }
        // Digit by digit: three timestamps per manifest line, and the
        // formatting machinery cost more than the rest of the line.
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut value: u64| {
            for slot in text[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, u64::from(mo));
        put(8, 2, u64::from(d));
        put(11, 2, u64::from(h));
        put(14, 2, u64::from(mi));
        put(17, 2, u64::from(s));
        put(20, 9, u64::from(self.nanos));
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digit_by_digit_form_equals_the_formatted_one() {
        let mut secs: i64 = -62_167_219_200; // 0000-01-01
        let mut nanos: u32 = 7;
        while secs < 253_402_300_800 {
            // up to 9999-12-31
            let t = Timestamp::new(secs, i64::from(nanos));
            let (y, mo, d, h, mi, s) = civil(secs);
            let expected = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z");
            assert_eq!(t.to_string(), expected);
            secs += 98_765_431;
            nanos = ((u64::from(nanos) * 31 + 17) % 1_000_000_000) as u32;
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::new(0, 0).to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp::new(1_700_000_000, 5).to_string(),
            "2023-11-14T22:13:20.000000005Z"
        );
        // 1601-01-01, the NTFS epoch.
        assert_eq!(
            Timestamp::new(-11_644_473_600, 0).to_string(),
            "1601-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp::new(951_782_400, 0).to_compact(),
            "20000229T000000Z"
        );
    }

    #[test]
    fn pax_form_handles_negative_fractions() {
        assert_eq!(Timestamp::new(-1, 250_000_000).to_pax(), "-0.750000000");
        assert_eq!(Timestamp::new(12, 0).to_pax(), "12");
        assert_eq!(Timestamp::new(-3, 1_500_000_000).to_pax(), "-1.500000000");
    }
}
