//! RFC 3339 UTC timestamps with nanoseconds, as Docker's json-file log driver writes them, and
//! the epoch nanoseconds of its local driver.

use std::time::SystemTime;

/// Now, as `2006-01-02T15:04:05.999999999Z`.
pub fn now_rfc3339_nanos() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Now, as nanoseconds since the epoch (the `local` log format's `time_nano`).
pub fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Formats seconds and nanoseconds since the epoch (the tests pin Docker's format with it).
#[cfg(test)]
fn format_rfc3339_nanos(secs: u64, nanos: u32) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339_nanos(0, 0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (leap day) 12:34:56.000000789
        assert_eq!(
            format_rfc3339_nanos(951_827_696, 789),
            "2000-02-29T12:34:56.000000789Z"
        );
        assert_eq!(
            format_rfc3339_nanos(1_735_689_599, 999_999_999),
            "2024-12-31T23:59:59.999999999Z"
        );
    }
}
