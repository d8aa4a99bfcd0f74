//! Times as supervisors read them. Pure arithmetic, so the server and the browser render
//! exactly the same text (a hydration mismatch otherwise) without a date library in WASM.

/// `2026-11-03 09:00:08 UTC` for epoch milliseconds.
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `09:00:08` for epoch milliseconds (UTC).
pub fn clock(ms: i64) -> String {
    let rem = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2026-11-03T09:00:08Z`, for `<time datetime>`.
pub fn iso(ms: i64) -> String {
    timestamp(ms).replacen(' ', "T", 1).replace(" UTC", "Z")
}

/// How long ago `then` was at `now`, as a supervisor says it: "just now", "2 min ago",
/// "3 h ago", "5 d ago".
pub fn ago(now: i64, then: i64) -> String {
    let secs = (now - then).max(0) / 1000;
    match secs {
        0..=44 => "just now".to_owned(),
        45..=3_599 => format!("{} min ago", (secs + 30) / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// `$1,250.00`.
pub fn money(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let (whole, cents) = (cents.abs() / 100, cents.abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    format!("{sign}${grouped}.{cents:02}")
}

/// `1 message`, `3 messages`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        // 2026-11-03T09:00:08Z
        assert_eq!(timestamp(1_793_696_408_000), "2026-11-03 09:00:08 UTC");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(clock(1_793_696_408_999), "09:00:08");
        assert_eq!(iso(1_793_696_408_000), "2026-11-03T09:00:08Z");
    }

    #[test]
    fn says_how_long_ago() {
        let now = 1_000_000_000;
        assert_eq!(ago(now, now + 5_000), "just now");
        assert_eq!(ago(now, now - 10_000), "just now");
        assert_eq!(ago(now, now - 120_000), "2 min ago");
        assert_eq!(ago(now, now - 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(now, now - 2 * 86_400_000), "2 d ago");
    }

    #[test]
    fn formats_money_and_counts() {
        assert_eq!(money(1250.0), "$1,250.00");
        assert_eq!(money(999.995), "$1,000.00");
        assert_eq!(money(12.5), "$12.50");
        assert_eq!(count(1, "message", "messages"), "1 message");
        assert_eq!(count(0, "message", "messages"), "0 messages");
    }
}
