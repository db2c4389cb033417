//! Working hours (SPEC 3.4): weekly ranges of local wall-clock time in one IANA time
//! zone, and holidays. Pure: every question takes the instant it is asked about.
//!
//! All arithmetic is on the zone's wall clock as the tz database gives it, so daylight
//! saving needs no special case: minutes a spring-forward gap removes never occur (a
//! range inside the gap has no minutes that day), and the minutes a fall-back overlap
//! repeats are open both times when a range covers them.
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use std::fmt;

pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// The day keys of `hours:`, Monday first (the order of `Weekday::num_days_from_monday`).
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One range of a weekday, in minutes after local midnight: `start` inclusive, `end`
/// exclusive. `end` above [`MINUTES_PER_DAY`] runs into the next day (`22:00-02:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: u16,
    pub end: u16,
}

impl Span {
    /// Whether the range runs past midnight into the next day.
    pub fn crosses_midnight(self) -> bool {
        self.end > MINUTES_PER_DAY
    }
}

impl fmt::Display for Span {
    /// As written: `09:00-12:00`, `22:00-02:00`, `18:00-24:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end > MINUTES_PER_DAY {
            self.end - MINUTES_PER_DAY
        } else {
            self.end
        };
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            end / 60,
            end % 60
        )
    }
}

/// A compiled `schedules:` entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    zone: Tz,
    /// The ranges of each weekday, Monday first, sorted by start.
    week: [Vec<Span>; 7],
    /// Sorted, without duplicates.
    holidays: Vec<NaiveDate>,
}

/// How far [`Schedule::next_change`] looks ahead at most.
const HORIZON_DAYS: u64 = 400;

impl Schedule {
    /// A schedule from ranges already checked (`check` rejects overlaps before this).
    pub fn new(
        name: &str,
        zone: Tz,
        mut week: [Vec<Span>; 7],
        mut holidays: Vec<NaiveDate>,
    ) -> Self {
        week.iter_mut().for_each(|d| d.sort());
        holidays.sort();
        holidays.dedup();
        Self {
            name: name.to_owned(),
            zone,
            week,
            holidays,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timezone(&self) -> Tz {
        self.zone
    }

    /// The ranges of a weekday (0 = Monday), sorted by start.
    pub fn day(&self, weekday: usize) -> &[Span] {
        &self.week[weekday % 7]
    }

    pub fn holidays(&self) -> &[NaiveDate] {
        &self.holidays
    }

    pub fn is_holiday(&self, day: NaiveDate) -> bool {
        self.holidays.binary_search(&day).is_ok()
    }

    /// Whether the schedule is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.is_open_local(at.with_timezone(&self.zone).naive_local())
    }

    /// Whether the schedule is open at this local wall-clock time. A holiday closes its
    /// whole local date, and a range that starts on a holiday does not run at all (not
    /// even its part after midnight): the holiday's night shift is off too.
    pub fn is_open_local(&self, local: NaiveDateTime) -> bool {
        let date = local.date();
        if self.is_holiday(date) {
            return false;
        }
        // Minute resolution is exact: every range starts and ends on a whole minute.
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let wd = date.weekday().num_days_from_monday() as usize;
        if self.week[wd]
            .iter()
            .any(|s| s.start <= minute && minute < s.end)
        {
            return true;
        }
        let yesterday = (wd + 6) % 7;
        self.week[yesterday]
            .iter()
            .any(|s| s.crosses_midnight() && minute < s.end - MINUTES_PER_DAY)
            && date.pred_opt().is_some_and(|d| !self.is_holiday(d))
    }

    /// The local date at `at`: the daily cap's day runs from one local midnight to the next
    /// (23 or 25 hours on the days the clocks change).
    pub fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// The first instant after `at` at which [`Schedule::is_open`] gives the other answer,
    /// or `None` when it does not change within about a year (open around the clock,
    /// or closed by a long run of holidays).
    pub fn next_change(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = self.is_open(at);
        // Two days back: a local date's times can reach a day or more into UTC either way
        // (offsets run from -12h to +14h, and a zone may even skip a date).
        let first = self.local_day(at).checked_sub_days(Days::new(2))?;
        for days in [9, HORIZON_DAYS] {
            let last = first.checked_add_days(Days::new(days))?;
            // Times of dates from `last` on are all later than this in UTC, so every
            // change before it is among the candidates of the dates before `last`.
            let complete_until = last.and_hms_opt(0, 0, 0)?.and_utc() - TimeDelta::days(2);
            let found = self
                .candidates(first, last)
                .into_iter()
                .filter(|c| *c > at && *c < complete_until)
                .find(|c| self.is_open(*c) != now);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Every instant in the local dates `[first, last)` at which the answer may change:
    /// the instants of each boundary's wall time (both, in a fall-back overlap) and the
    /// zone's offset changes (where the wall clock jumps, possibly over a boundary).
    fn candidates(&self, first: NaiveDate, last: NaiveDate) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        for date in first.iter_days().take_while(|d| *d < last) {
            let wd = date.weekday().num_days_from_monday() as usize;
            let yesterday = (wd + 6) % 7;
            let own = self.week[wd]
                .iter()
                .flat_map(|s| [s.start, s.end.min(MINUTES_PER_DAY)]);
            let spill = self.week[yesterday]
                .iter()
                .filter(|s| s.crosses_midnight())
                .map(|s| s.end - MINUTES_PER_DAY);
            for minute in std::iter::once(0).chain(own).chain(spill) {
                if minute >= MINUTES_PER_DAY {
                    continue; // the next date's midnight, a boundary of that date
                }
                let local = date.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0);
                match local.map(|l| self.zone.from_local_datetime(&l)) {
                    Some(LocalResult::Single(t)) => out.push(t.to_utc()),
                    Some(LocalResult::Ambiguous(a, b)) => out.extend([a.to_utc(), b.to_utc()]),
                    // In a gap: the wall clock jumps over it at an offset change, below.
                    Some(LocalResult::None) | None => {}
                }
            }
        }
        let (Some(from), Some(to)) = (first.and_hms_opt(0, 0, 0), last.and_hms_opt(0, 0, 0)) else {
            return out;
        };
        self.offset_changes(
            from.and_utc() - TimeDelta::days(1),
            to.and_utc() + TimeDelta::days(1),
            &mut out,
        );
        out.sort();
        out.dedup();
        out
    }

    /// The instants in `[from, to)` at which the zone's UTC offset changes. Offsets are
    /// compared every 6 hours (no zone changes twice within that) and each change is
    /// narrowed to the second.
    fn offset_changes(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        let step = TimeDelta::hours(6);
        let offset = |t: DateTime<Utc>| self.zone.offset_from_utc_datetime(&t.naive_utc()).fix();
        let mut lo = from;
        while lo < to {
            let hi = lo + step;
            if offset(lo) != offset(hi) {
                // offset(a) == offset(lo), offset(b) != offset(lo): the change is in (a, b].
                let (mut a, mut b) = (lo, hi);
                while b - a > TimeDelta::seconds(1) {
                    let mid = a + (b - a) / 2;
                    if offset(mid) == offset(lo) {
                        a = mid;
                    } else {
                        b = mid;
                    }
                }
                out.push(b);
            }
            lo = hi;
        }
    }
}

/// The day `at` falls on for a daily count: the schedule's local date, the UTC date
/// without a schedule.
pub fn local_day(schedule: Option<&Schedule>, at: DateTime<Utc>) -> NaiveDate {
    schedule.map_or_else(|| at.date_naive(), |s| s.local_day(at))
}

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
