//! Schedule evaluation around the daylight-saving changes of America/New_York and
//! Europe/Berlin (2026 and 2027) and across midnight (SPEC 3.4).
//!
//! The properties compile random schedules through the rules file (random disjoint
//! ranges anywhere in the week, some running past midnight, and random holidays near
//! the clock changes) and compare, at random instants within three days of a change:
//! `is_open` with a reference computed from the generated ranges and the wall-clock
//! time the tz database gives for that instant; `local_day` with the local date;
//! `next_change` with a minute-by-minute walk. Fixed cases pin the gap, the overlap and
//! the 23- and 25-hour days. Raise `PROPTEST_CASES` to search longer.
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use common::engine::rules;
use leadrouter::rules::{Ruleset, Schedule};
use proptest::prelude::*;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK: u32 = 7 * 1440;

/// The clock changes the properties start from: (zone, local date of the change).
const CHANGES: [(&str, (i32, u32, u32)); 8] = [
    ("America/New_York", (2026, 3, 8)),
    ("America/New_York", (2026, 11, 1)),
    ("America/New_York", (2027, 3, 14)),
    ("America/New_York", (2027, 11, 7)),
    ("Europe/Berlin", (2026, 3, 29)),
    ("Europe/Berlin", (2026, 10, 25)),
    ("Europe/Berlin", (2027, 3, 28)),
    ("Europe/Berlin", (2027, 10, 31)),
];

/// A generated range: weekday (Monday 0), start minute, length in minutes (< 1 day).
#[derive(Debug, Clone, Copy)]
struct Range {
    day: u32,
    start: u32,
    len: u32,
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The rules file of a schedule `s` with these ranges and holidays, used by a pool.
fn yaml(zone: &str, ranges: &[Range], holidays: &[NaiveDate]) -> String {
    let mut hours = String::new();
    for (d, name) in DAYS.iter().enumerate() {
        let items: Vec<String> = ranges
            .iter()
            .filter(|r| r.day == d as u32)
            .map(|r| {
                let end = r.start + r.len;
                let end = if end == 1440 {
                    "24:00".into()
                } else {
                    hhmm(end % 1440)
                };
                format!("\"{}-{end}\"", hhmm(r.start))
            })
            .collect();
        if !items.is_empty() {
            hours.push_str(&format!("      {name}: [{}]\n", items.join(", ")));
        }
    }
    let hol: Vec<String> = holidays.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "schedules:\n  s:\n    timezone: {zone}\n    hours:\n{hours}    holidays: [{}]\npools:\n  p: {{members: [a], schedule: s}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n",
        hol.join(", ")
    )
}

/// The wall-clock time of `at` in `zone`, from the zone's offset at that instant.
fn wall_clock(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc() + Duration::seconds(i64::from(offset.local_minus_utc()))
}

/// Open by the generated ranges, read plainly: on a range's day from its start, or on
/// the next day before its end when it runs past midnight; never on a holiday, and not
/// after midnight when the range started on one.
fn reference_open(ranges: &[Range], holidays: &[NaiveDate], local: NaiveDateTime) -> bool {
    let date = local.date();
    let wd = date.weekday().num_days_from_monday();
    let m = local.hour() * 60 + local.minute();
    let holiday = |d: NaiveDate| holidays.contains(&d);
    if holiday(date) {
        return false;
    }
    ranges.iter().any(|r| {
        let end = r.start + r.len;
        let today = r.day == wd && r.start <= m && m < end.min(1440);
        let from_yesterday = end > 1440
            && (r.day + 1) % 7 == wd
            && m < end - 1440
            && !holiday(date.pred_opt().unwrap());
        today || from_yesterday
    })
}

/// Disjoint ranges on the week's circle: sorted distinct half-hour points paired as
/// (start, end), each shorter than a day, the whole turned by a random offset (so one
/// may run past Sunday midnight into Monday).
fn week_ranges() -> impl Strategy<Value = Vec<Range>> {
    (
        prop::collection::btree_set(0..WEEK / 30, 2..=16),
        0..WEEK / 30,
    )
        .prop_map(|(points, turn)| {
            let p: Vec<u32> = points.into_iter().map(|x| x * 30).collect();
            p.chunks_exact(2)
                .map(|pair| {
                    let len = (pair[1] - pair[0]).min(1439);
                    let start = (pair[0] + turn * 30) % WEEK;
                    Range {
                        day: start / 1440,
                        start: start % 1440,
                        len,
                    }
                })
                .collect()
        })
}

/// A clock change, ranges, holidays within two days of it, and an instant within three.
fn case() -> impl Strategy<Value = (Tz, Vec<Range>, Vec<NaiveDate>, DateTime<Utc>)> {
    (
        0..CHANGES.len(),
        week_ranges(),
        prop::collection::vec(-2i64..=2, 0..3),
        -3 * 86_400i64..3 * 86_400,
    )
        .prop_map(|(i, ranges, hol, secs)| {
            let (zone, (y, m, d)) = CHANGES[i];
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let mut holidays: Vec<NaiveDate> =
                hol.into_iter().map(|k| day + Duration::days(k)).collect();
            holidays.sort();
            holidays.dedup();
            // Around 02:00-03:00 local, where both zones change, most of the time.
            let at = day.and_hms_opt(2, 0, 0).unwrap().and_utc() + Duration::seconds(secs);
            (zone.parse().unwrap(), ranges, holidays, at)
        })
}

fn compile(zone: Tz, ranges: &[Range], holidays: &[NaiveDate]) -> Ruleset {
    rules(&yaml(zone.name(), ranges, holidays))
}

/// `PROPTEST_CASES` if set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // A failure found is kept as a fixed case below instead (as in rule_props).
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn is_open_follows_the_wall_clock((zone, ranges, holidays, at) in case(), probes in prop::collection::vec(-7200i64..7200, 16)) {
        let rs = compile(zone, &ranges, &holidays);
        let s = rs.schedule("s").unwrap();
        for t in std::iter::once(at).chain(probes.iter().map(|p| at + Duration::seconds(*p))) {
            let local = wall_clock(zone, t);
            prop_assert_eq!(
                s.is_open(t),
                reference_open(&ranges, &holidays, local),
                "at {} (local {}), ranges {:?}, holidays {:?}", t, local, ranges, holidays
            );
        }
    }

    #[test]
    fn the_day_ends_at_local_midnight((zone, ranges, holidays, at) in case()) {
        let rs = compile(zone, &ranges, &holidays);
        let s = rs.schedule("s").unwrap();
        let local = wall_clock(zone, at);
        prop_assert_eq!(s.local_day(at), local.date());
        let a_second_before = s.local_day(at - Duration::seconds(1));
        prop_assert_eq!(
            a_second_before != s.local_day(at),
            local.time() == chrono::NaiveTime::MIN,
            "at {} (local {})", at, local
        );
        // What the daily count keys on: the member's schedule's date.
        prop_assert_eq!(rs.local_day("a", at), local.date());
    }

    #[test]
    fn next_change_is_the_first_change((zone, ranges, holidays, at) in case()) {
        let rs = compile(zone, &ranges, &holidays);
        let s = rs.schedule("s").unwrap();
        let now = s.is_open(at);
        let next = s.next_change(at);
        let until = next.unwrap_or(at + Duration::days(9));
        prop_assert!(until > at);
        // Every answer changes on a whole minute, or where the clocks change (on a whole
        // minute too, in these zones): walking minute by minute finds any earlier change.
        let mut t = at + Duration::seconds(60 - i64::from(at.second()));
        while t < until {
            prop_assert_eq!(s.is_open(t), now, "changed at {} before next_change {:?}", t, next);
            t += Duration::minutes(1);
        }
        if let Some(c) = next {
            prop_assert_ne!(s.is_open(c), now, "no change at next_change {}", c);
            prop_assert_eq!(s.is_open(c - Duration::seconds(1)), now);
        }
    }
}

// ---------------------------------------------------------------------------------
// Fixed cases.

fn schedule_rules(zone: &str, hours: &str, holidays: &str) -> Ruleset {
    rules(&format!(
        "schedules:\n  s:\n    timezone: {zone}\n    hours: {hours}\n    holidays: {holidays}\npools:\n  p: {{members: [a], schedule: s}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n"
    ))
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Minutes open in `[from, to)`, counted minute by minute.
fn open_minutes(s: &Schedule, from: &str, to: &str) -> i64 {
    let (mut t, to) = (utc(from), utc(to));
    let mut n = 0;
    while t < to {
        n += i64::from(s.is_open(t));
        t += Duration::minutes(1);
    }
    n
}

#[test]
fn a_range_inside_the_spring_forward_gap_has_no_minutes() {
    // New York, Sunday 2026-03-08: 02:00 EST is 03:00 EDT.
    let rs = schedule_rules("America/New_York", "{sun: [\"02:00-03:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert_eq!(
        open_minutes(s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
        0
    );
    // The next Sunday it has its hour again.
    assert_eq!(
        open_minutes(s, "2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z"),
        60
    );
    // A range across the gap keeps the minutes that exist: 01:30-02:00 EST, 03:00-03:30 EDT.
    let rs = schedule_rules("America/New_York", "{sun: [\"01:30-03:30\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert!(s.is_open(utc("2026-03-08T06:30:00Z")));
    assert!(s.is_open(utc("2026-03-08T07:29:59Z")));
    assert!(!s.is_open(utc("2026-03-08T07:30:00Z")));
    assert_eq!(
        open_minutes(s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
        60
    );
    // Berlin, Sunday 2026-03-29: 02:00 CET is 03:00 CEST.
    let rs = schedule_rules("Europe/Berlin", "{sun: [\"02:15-02:45\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert_eq!(
        open_minutes(s, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
        0
    );
}

#[test]
fn the_fall_back_hour_is_open_both_times() {
    // New York, Sunday 2026-11-01: 01:00-02:00 happens in EDT (05:00Z) and again in EST (06:00Z).
    let rs = schedule_rules("America/New_York", "{sun: [\"01:00-02:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert_eq!(
        open_minutes(s, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        120
    );
    assert!(s.is_open(utc("2026-11-01T05:00:00Z")));
    assert!(s.is_open(utc("2026-11-01T06:59:59Z")));
    assert!(!s.is_open(utc("2026-11-01T07:00:00Z")));
    // Berlin, Sunday 2027-10-31: 02:00-03:00 happens in CEST (00:00Z) and in CET (01:00Z).
    let rs = schedule_rules("Europe/Berlin", "{sun: [\"02:30-03:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert_eq!(
        open_minutes(s, "2027-10-30T12:00:00Z", "2027-10-31T12:00:00Z"),
        60
    );
}

#[test]
fn next_change_where_the_clock_jumps_back() {
    // 01:30-02:00 on 2026-11-01 in New York: open 05:30-06:00Z (EDT), then the clock goes
    // back to 01:00 (closed) and reaches 01:30 again at 06:30Z (EST), closing at 07:00Z.
    let rs = schedule_rules("America/New_York", "{sun: [\"01:30-02:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    let next = |t: &str| s.next_change(utc(t)).map(|c| c.to_rfc3339());
    let z = |t: &str| Some(utc(t).to_rfc3339());
    assert_eq!(next("2026-11-01T05:00:00Z"), z("2026-11-01T05:30:00Z"));
    assert_eq!(next("2026-11-01T05:45:00Z"), z("2026-11-01T06:00:00Z"));
    assert_eq!(next("2026-11-01T06:00:00Z"), z("2026-11-01T06:30:00Z"));
    assert_eq!(next("2026-11-01T06:30:00Z"), z("2026-11-01T07:00:00Z"));
    // Then the next Sunday, 01:30 EST.
    assert_eq!(next("2026-11-01T07:00:00Z"), z("2026-11-08T06:30:00Z"));
    // A night range ending at 02:00 on the night the clocks go forward ends at the jump.
    let rs = schedule_rules("America/New_York", "{sat: [\"22:00-02:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    assert_eq!(
        s.next_change(utc("2027-03-14T06:00:00Z")),
        Some(utc("2027-03-14T07:00:00Z"))
    );
    // Always open: no change.
    let rs = schedule_rules("Europe/Berlin", "{mon-sun: [\"00:00-24:00\"]}", "[]");
    assert_eq!(
        rs.schedule("s")
            .unwrap()
            .next_change(utc("2026-10-25T01:00:00Z")),
        None
    );
}

#[test]
fn days_of_23_and_25_hours() {
    let rs = schedule_rules("America/New_York", "{mon: [\"09:00-17:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    let day = |t: &str| s.local_day(utc(t)).to_string();
    // 2026-03-08 in New York: from 05:00Z (EST midnight) to 04:00Z the next day (EDT).
    assert_eq!(day("2026-03-08T04:59:59Z"), "2026-03-07");
    assert_eq!(day("2026-03-08T05:00:00Z"), "2026-03-08");
    assert_eq!(day("2026-03-09T03:59:59Z"), "2026-03-08");
    assert_eq!(day("2026-03-09T04:00:00Z"), "2026-03-09");
    let rs = schedule_rules("Europe/Berlin", "{mon: [\"09:00-17:00\"]}", "[]");
    let s = rs.schedule("s").unwrap();
    let day = |t: &str| s.local_day(utc(t)).to_string();
    // 2026-10-25 in Berlin: from 22:00Z the day before (CEST) to 23:00Z (CET).
    assert_eq!(day("2026-10-24T21:59:59Z"), "2026-10-24");
    assert_eq!(day("2026-10-24T22:00:00Z"), "2026-10-25");
    assert_eq!(day("2026-10-25T22:59:59Z"), "2026-10-25");
    assert_eq!(day("2026-10-25T23:00:00Z"), "2026-10-26");
    // Without a schedule the day is the UTC date.
    assert_eq!(
        rs.local_day("nobody", utc("2026-10-24T22:30:00Z"))
            .to_string(),
        "2026-10-24"
    );
}

#[test]
fn holidays_and_night_shifts() {
    // Friday night shifts in New York; 2026-12-25 is a Friday.
    let fri_night = "{fri: [\"22:00-02:00\"]}";
    let open = |holidays: &str, t: &str| {
        schedule_rules("America/New_York", fri_night, holidays)
            .schedule("s")
            .unwrap()
            .is_open(utc(t))
    };
    let fri_23 = "2026-12-26T04:00:00Z"; // Fri 23:00 EST
    let sat_01 = "2026-12-26T06:00:00Z"; // Sat 01:00 EST
    assert!(open("[]", fri_23) && open("[]", sat_01));
    // The holiday's own night shift is off, after midnight too.
    assert!(!open("[2026-12-25]", fri_23) && !open("[2026-12-25]", sat_01));
    // A holiday the next day closes that whole date: the shift stops at midnight.
    assert!(open("[2026-12-26]", fri_23) && !open("[2026-12-26]", sat_01));
    // A holiday closes the whole local date, whatever the ranges.
    let rs = schedule_rules(
        "Europe/Berlin",
        "{mon-sun: [\"00:00-24:00\"]}",
        "[2026-10-25]",
    );
    let s = rs.schedule("s").unwrap();
    assert!(s.is_open(utc("2026-10-24T21:59:59Z")));
    assert!(!s.is_open(utc("2026-10-24T22:00:00Z")));
    assert!(!s.is_open(utc("2026-10-25T22:59:59Z")));
    assert!(s.is_open(utc("2026-10-25T23:00:00Z")));
    assert_eq!(
        s.next_change(utc("2026-10-24T12:00:00Z")),
        Some(utc("2026-10-24T22:00:00Z"))
    );
    assert_eq!(
        s.next_change(utc("2026-10-24T22:00:00Z")),
        Some(utc("2026-10-25T23:00:00Z"))
    );
}
