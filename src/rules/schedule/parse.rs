//! The text of a schedule: day keys, ranges, holidays, zone names; and where ranges
//! overlap. Each parser returns the message `check` shows.
use super::{DAY_NAMES, MINUTES_PER_DAY, Span};
use chrono::NaiveDate;
use chrono_tz::Tz;

/// `mon`, or a range of days `mon-fri` (wrapping past Sunday is allowed: `fri-mon`).
/// Case and surrounding spaces are ignored. Returns the weekdays, Monday = 0.
pub fn parse_days(key: &str) -> Result<Vec<usize>, String> {
    let day = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        DAY_NAMES.iter().position(|d| *d == s).ok_or_else(|| {
            format!(
                "unknown day `{}` (days are {}, or a range like mon-fri)",
                s,
                DAY_NAMES.join(" ")
            )
        })
    };
    match key.split_once('-') {
        None => Ok(vec![day(key)?]),
        Some((a, b)) => {
            let (a, b) = (day(a)?, day(b)?);
            if a == b {
                return Err(format!(
                    "`{}` is one day: write `{}`",
                    key.trim(),
                    DAY_NAMES[a]
                ));
            }
            let len = (b + 7 - a) % 7 + 1;
            Ok((0..len).map(|i| (a + i) % 7).collect())
        }
    }
}

/// `HH:MM-HH:MM`: start inclusive, end exclusive; `24:00` only as an end. An end at or
/// before the start runs into the next day (`22:00-02:00`); equal times are refused
/// (they would mean nothing, or all day: write `00:00-24:00`).
pub fn parse_range(text: &str) -> Result<Span, String> {
    const FORM: &str = "a range is \"HH:MM-HH:MM\"";
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("invalid range {text:?}: {FORM}"))?;
    let start = parse_time(a.trim(), false).map_err(|e| format!("invalid range {text:?}: {e}"))?;
    let end = parse_time(b.trim(), true).map_err(|e| format!("invalid range {text:?}: {e}"))?;
    if start == end {
        return Err(format!(
            "invalid range {text:?}: start and end are the same time (a whole day is \"00:00-24:00\")"
        ));
    }
    let end = if end <= start {
        end + MINUTES_PER_DAY
    } else {
        end
    };
    Ok(Span { start, end })
}

/// `H:MM` or `HH:MM` in minutes after midnight.
fn parse_time(s: &str, is_end: bool) -> Result<u16, String> {
    let bad = || format!("{s:?} is not a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |x: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 {
        return Err(format!("{s:?}: minute {m} is not 00-59"));
    }
    match h {
        0..=23 => Ok(h * 60 + m),
        24 if m == 0 && is_end => Ok(MINUTES_PER_DAY),
        24 if m == 0 => Err(format!("{s:?}: a range cannot start at 24:00")),
        _ => Err(format!("{s:?}: hour {h} is not 00-23")),
    }
}

/// `YYYY-MM-DD`, a real date.
pub fn parse_holiday(text: &str) -> Result<NaiveDate, String> {
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let date = well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    date.ok_or_else(|| format!("invalid holiday {text:?}: a holiday is a date \"YYYY-MM-DD\""))
}

/// Every pair `(i, j)`, `i < j`, of ranges that overlap anywhere in the week, ranges
/// running past midnight (Sunday's into Monday too) included. `(weekday, span)` each.
pub fn overlapping_pairs(ranges: &[(usize, Span)]) -> Vec<(usize, usize)> {
    const WEEK: u32 = 7 * MINUTES_PER_DAY as u32;
    // Each range as minutes of the week; one crossing Sunday midnight wraps to Monday.
    let pieces = |(wd, s): (usize, Span)| {
        let base = wd as u32 * u32::from(MINUTES_PER_DAY);
        let (start, end) = (base + u32::from(s.start), base + u32::from(s.end));
        if end > WEEK {
            vec![(start, WEEK), (0, end - WEEK)]
        } else {
            vec![(start, end)]
        }
    };
    let mut out = Vec::new();
    for (j, b) in ranges.iter().enumerate() {
        for (i, a) in ranges[..j].iter().enumerate() {
            let hit = pieces(*a)
                .iter()
                .any(|x| pieces(*b).iter().any(|y| x.0 < y.1 && y.0 < x.1));
            if hit {
                out.push((i, j));
            }
        }
    }
    out
}

/// A zone by its IANA name; for an unknown one, the message (with the name in the right
/// case, when that was the mistake).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    if let Ok(z) = name.parse::<Tz>() {
        return Ok(z);
    }
    let hint = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|z| z.name().eq_ignore_ascii_case(name.trim()))
        .map(|z| format!("; did you mean {}?", z.name()))
        .unwrap_or_default();
    Err(format!(
        "unknown time zone {name:?} (an IANA zone name such as America/New_York or Europe/Berlin){hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u16, end: u16) -> Span {
        Span { start, end }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("09:00-12:00"), Ok(span(540, 720)));
        assert_eq!(parse_range("9:30 - 17:05"), Ok(span(570, 1025)));
        assert_eq!(parse_range("18:00-24:00"), Ok(span(1080, 1440)));
        assert_eq!(parse_range("00:00-24:00"), Ok(span(0, 1440)));
        assert_eq!(parse_range("22:00-02:00"), Ok(span(1320, 1560)));
        assert_eq!(parse_range("22:00-00:00"), Ok(span(1320, 1440)));
        assert_eq!(
            parse_range("22:00-02:00").unwrap().to_string(),
            "22:00-02:00"
        );
        for bad in [
            "25:00-26:00",
            "09:00-09:00",
            "09:60-10:00",
            "24:00-02:00",
            "9-17",
            "09:00",
            "09:00-",
            "0900-1200",
            "09:0-10:00",
            "+9:00-10:00",
            "",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        assert!(parse_range("25:00-26:00").unwrap_err().contains("hour 25"));
        assert!(
            parse_range("09:00-09:00")
                .unwrap_err()
                .contains("same time")
        );
    }

    #[test]
    fn days() {
        assert_eq!(parse_days("wed"), Ok(vec![2]));
        assert_eq!(parse_days("mon-fri"), Ok(vec![0, 1, 2, 3, 4]));
        assert_eq!(parse_days("Fri-Mon"), Ok(vec![4, 5, 6, 0]));
        assert!(parse_days("mon-mon").unwrap_err().contains("write `mon`"));
        assert!(parse_days("monday").unwrap_err().contains("unknown day"));
        assert!(parse_days("mon-").is_err());
    }

    #[test]
    fn holidays() {
        assert_eq!(
            parse_holiday("2026-12-25"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap())
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-1-1",
            "26-01-01",
            "2026/01/01",
            "x",
        ] {
            assert!(parse_holiday(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overlaps_across_days_and_sunday_night() {
        let pairs = overlapping_pairs;
        let a = (0, span(540, 720));
        assert_eq!(pairs(&[a, (0, span(720, 780))]), vec![], "adjacent is fine");
        assert_eq!(pairs(&[a, (1, span(600, 660))]), vec![], "another day");
        assert_eq!(pairs(&[a, (0, span(600, 660))]), vec![(0, 1)]);
        // Monday 22:00-02:00 runs into Tuesday 01:00-05:00, not into 02:00-05:00.
        assert_eq!(
            pairs(&[(0, span(1320, 1560)), (1, span(60, 300))]),
            vec![(0, 1)]
        );
        assert_eq!(pairs(&[(0, span(1320, 1560)), (1, span(120, 300))]), vec![]);
        // Sunday 23:00-01:00 runs into Monday 00:30.
        assert_eq!(
            pairs(&[(0, span(30, 60)), (6, span(1380, 1500))]),
            vec![(0, 1)]
        );
        assert_eq!(
            pairs(&[a, (0, span(600, 660)), (0, span(700, 800))]),
            vec![(0, 1), (0, 2)]
        );
    }

    #[test]
    fn zones() {
        assert!(parse_zone("Europe/Berlin").is_ok());
        let e = parse_zone("europe/berlin").unwrap_err();
        assert!(e.contains("did you mean Europe/Berlin?"), "{e}");
        assert!(
            !parse_zone("Mars/Olympus")
                .unwrap_err()
                .contains("did you mean")
        );
    }
}
