//! Availability of a pool member (SPEC 3.4) as the pure decision answers it, and the
//! known-contact keys of section 3.5, from leads parsed by the real parser.
use chrono::{DateTime, NaiveDate, Utc};
use common::engine::rules;
use leadrouter::lead::{DEFAULT_MAX_MESSAGE_BYTES, parse_lead};
use leadrouter::routing::Availability;
use leadrouter::routing::availability::{Counts, member_availability};
use leadrouter::routing::contact::ContactKey;
use leadrouter::rules::{ContactField, Ruleset};
use std::cell::Cell;

/// Office hours in New York, Monday to Friday 09:00-17:00; a pool of `a` (own caps) and
/// `b` (the pool's), and `c` with nothing.
fn ruleset() -> Ruleset {
    rules(
        "schedules:\n  office: {timezone: America/New_York, hours: {mon-fri: [\"09:00-17:00\"]}}\nagents:\n  a: {daily_cap: 2, open_cap: 5}\npools:\n  p:\n    members: [a, b]\n    schedule: office\n    daily_cap: 8\n    open_cap: 30\n  q: {members: [c]}\nrules:\n  - {name: r, assign: {pool: p}}\n  - {name: s, assign: {pool: q}}\n",
    )
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Tuesday 2026-03-10 10:00 in New York (EDT), and 20:00 the same day.
const OPEN: &str = "2026-03-10T14:00:00Z";
const CLOSED: &str = "2026-03-11T00:00:00Z";

fn counts(given_today: u64, open_offers: u64, open_assigned: u64) -> Counts {
    Counts {
        given_today,
        open_offers,
        open_assigned,
    }
}

#[test]
fn reasons_in_order() {
    let rs = ruleset();
    let p = rs.pool("p").unwrap();
    let avail = |agent, base, at, c: Counts| {
        member_availability(base, &rs.member_settings(p, agent), utc(at), |_| c)
    };
    let none = counts(0, 0, 0);
    assert_eq!(
        avail("b", Availability::Available, OPEN, none),
        Availability::Available
    );
    assert_eq!(
        avail("b", Availability::Available, CLOSED, none),
        Availability::OffHours
    );
    // Halted and inactive come first, whatever the hours and counts.
    assert_eq!(
        avail("b", Availability::Halted, CLOSED, counts(99, 0, 99)),
        Availability::Halted
    );
    assert_eq!(
        avail("b", Availability::Inactive, CLOSED, none),
        Availability::Inactive
    );
    // Off hours before the caps.
    assert_eq!(
        avail("b", Availability::Available, CLOSED, counts(8, 0, 30)),
        Availability::OffHours
    );
    // The pool's caps for b: 8 a day, 30 open.
    assert_eq!(
        avail("b", Availability::Available, OPEN, counts(7, 0, 29)),
        Availability::Available
    );
    assert_eq!(
        avail("b", Availability::Available, OPEN, counts(8, 0, 0)),
        Availability::DailyCap
    );
    assert_eq!(
        avail("b", Availability::Available, OPEN, counts(0, 0, 30)),
        Availability::OpenCap
    );
    // The daily cap before the open cap.
    assert_eq!(
        avail("b", Availability::Available, OPEN, counts(8, 0, 30)),
        Availability::DailyCap
    );
    // a's own caps (2 a day, 5 open) win over the pool's; open offers count as today's.
    assert_eq!(
        avail("a", Availability::Available, OPEN, counts(1, 0, 4)),
        Availability::Available
    );
    assert_eq!(
        avail("a", Availability::Available, OPEN, counts(1, 1, 0)),
        Availability::DailyCap
    );
    assert_eq!(
        avail("a", Availability::Available, OPEN, counts(0, 0, 5)),
        Availability::OpenCap
    );
}

#[test]
fn counts_are_read_only_when_a_cap_applies_and_for_the_local_day() {
    let rs = ruleset();
    let asked: Cell<Option<NaiveDate>> = Cell::new(None);
    let ask = |day| {
        asked.set(Some(day));
        Counts::default()
    };
    // c has no schedule and no cap: available without a count.
    let q = rs.pool("q").unwrap();
    let s = rs.member_settings(q, "c");
    assert_eq!(
        member_availability(Availability::Available, &s, utc(CLOSED), ask),
        Availability::Available
    );
    assert_eq!(asked.get(), None);
    // Off hours needs no count either.
    let p = rs.pool("p").unwrap();
    let s = rs.member_settings(p, "b");
    assert_eq!(
        member_availability(Availability::Available, &s, utc(CLOSED), ask),
        Availability::OffHours
    );
    assert_eq!(asked.get(), None);
    // 2026-03-10 23:30 in New York is 03:30Z on the 11th: b's day is still the 10th.
    let late = rules(
        "schedules:\n  late: {timezone: America/New_York, hours: {tue: [\"20:00-24:00\"]}}\npools:\n  p: {members: [b], schedule: late, daily_cap: 3}\nrules:\n  - {name: r, assign: {pool: p}}\n",
    );
    let s = late.member_settings(late.pool("p").unwrap(), "b");
    assert_eq!(
        member_availability(
            Availability::Available,
            &s,
            utc("2026-03-11T03:30:00Z"),
            ask
        ),
        Availability::Available
    );
    assert_eq!(asked.get(), NaiveDate::from_ymd_opt(2026, 3, 10));
}

fn keys(line: &str, fields: &[ContactField]) -> Vec<(ContactField, String)> {
    let lead = parse_lead(line.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).expect("valid lead");
    ContactKey::of_lead(&lead, fields)
        .into_iter()
        .map(|k| (k.field, k.value))
        .collect()
}

#[test]
fn contact_keys_of_leads() {
    use ContactField::{Email, Phone};
    let both = [Email, Phone];
    let one = |field, v: &str| vec![(field, v.to_owned())];
    // Case and spaces in emails; punctuation and +1 in phones.
    assert_eq!(
        keys(
            r#"{"id":"1","contact":{"email":"  Jane.Doe@Example.COM ","phone":"+1 (555) 123-4567"}}"#,
            &both
        ),
        vec![
            (Email, "jane.doe@example.com".to_owned()),
            (Phone, "5551234567".to_owned())
        ]
    );
    assert_eq!(
        keys(
            r#"{"id":"2","contact":{"email":"jane.doe@example.com","phone":"555.123.4567"}}"#,
            &both
        ),
        keys(
            r#"{"id":"3","contact":{"email":"JANE.DOE@EXAMPLE.COM","phone":"1-555-123-4567"}}"#,
            &both
        ),
    );
    // Only the keys asked for, in the order asked.
    assert_eq!(
        keys(
            r#"{"id":"4","contact":{"email":"a@b.c","phone":"5551234567"}}"#,
            &[Phone, Email]
        ),
        vec![
            (Phone, "5551234567".to_owned()),
            (Email, "a@b.c".to_owned())
        ]
    );
    assert_eq!(
        keys(
            r#"{"id":"5","contact":{"email":"a@b.c","phone":"5551234567"}}"#,
            &[Phone]
        ),
        one(Phone, "5551234567")
    );
    // Short numbers, empty and junk values, and missing contacts never give a key.
    assert_eq!(
        keys(
            r#"{"id":"6","contact":{"phone":"123-456","email":" "}}"#,
            &both
        ),
        vec![]
    );
    assert_eq!(
        keys(
            r#"{"id":"7","contact":{"email":"n/a","phone":"ext 12"}}"#,
            &both
        ),
        vec![]
    );
    assert_eq!(
        keys(r#"{"id":"8","contact":{"name":"Jane"}}"#, &both),
        vec![]
    );
    assert_eq!(keys(r#"{"id":"9"}"#, &both), vec![]);
    assert_eq!(keys(r#"{"id":"10","contact":null}"#, &both), vec![]);
}

#[test]
fn skip_reasons_as_the_trace_writes_them() {
    for (a, name) in [
        (Availability::Available, "available"),
        (Availability::Halted, "halted"),
        (Availability::Inactive, "inactive"),
        (Availability::OffHours, "off_hours"),
        (Availability::DailyCap, "daily_cap"),
        (Availability::OpenCap, "open_cap"),
    ] {
        assert_eq!(a.as_str(), name);
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(name));
        assert_eq!(
            serde_json::from_value::<Availability>(name.into()).unwrap(),
            a
        );
    }
}
