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

mod parse;
pub use parse::{overlapping_pairs, parse_days, parse_holiday, parse_range, parse_zone};

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
    /// narrowed to its second (the tz database's changes fall on whole seconds).
    fn offset_changes(&self, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
        const STEP: i64 = 6 * 3600;
        let offset = |secs: i64| {
            DateTime::from_timestamp(secs, 0)
                .map(|t| self.zone.offset_from_utc_datetime(&t.naive_utc()).fix())
        };
        let (mut lo, to) = (from.timestamp(), to.timestamp());
        while lo < to {
            let hi = lo + STEP;
            let before = offset(lo);
            if before != offset(hi) {
                // offset(a) is the old offset, offset(b) not: the change is in (a, b].
                let (mut a, mut b) = (lo, hi);
                while b - a > 1 {
                    let mid = a + (b - a) / 2;
                    if offset(mid) == before {
                        a = mid;
                    } else {
                        b = mid;
                    }
                }
                out.extend(DateTime::from_timestamp(b, 0));
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
