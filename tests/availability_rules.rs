//! `schedules:`, `agents:`, pool-level `schedule`/`daily_cap`/`open_cap` and
//! `owner_of_contact` as `check` compiles them (SPEC 3.4, 3.5): every mistake named with
//! file, line and key, the warnings, and what the compiled ruleset answers.
use common::engine::{route, rules, try_rules};
use leadrouter::routing::RuleOutcome;
use leadrouter::rules::{Action, ContactField, Diagnostic};
use serde_json::json;
use std::time::Duration;

fn errors(yaml: &str) -> Vec<Diagnostic> {
    match try_rules(yaml) {
        Ok(_) => panic!("should be invalid:\n{yaml}"),
        Err(e) => e.errors,
    }
}

/// Exactly one error, at `line`, for `rule`, whose message contains `needle`.
fn one_error(yaml: &str, line: usize, rule: Option<&str>, needle: &str) {
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.file.to_str(), Some("test.yaml"));
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.rule.as_deref(), rule, "{e}");
    assert!(e.message.contains(needle), "{e} should contain {needle:?}");
}

/// A rules file with this schedule body under `schedules: {s: ...}` (line 3 on), an
/// agent using it, and a pool rule, so nothing else warns or fails.
fn with_schedule(body: &str) -> String {
    format!(
        "schedules:\n  s:\n{body}agents:\n  a: {{schedule: s}}\npools:\n  p: {{members: [a]}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n"
    )
}

const TZ: &str = "    timezone: America/New_York\n";

#[test]
fn unknown_time_zone() {
    one_error(
        &with_schedule("    timezone: America/Los_Angles\n    hours: {mon: [\"09:00-17:00\"]}\n"),
        3,
        None,
        "schedule `s`: unknown time zone \"America/Los_Angles\"",
    );
    // The right name in the wrong case gets a hint.
    one_error(
        &with_schedule("    timezone: europe/berlin\n    hours: {mon: [\"09:00-17:00\"]}\n"),
        3,
        None,
        "did you mean Europe/Berlin?",
    );
    one_error(
        &with_schedule("    hours: {mon: [\"09:00-17:00\"]}\n"),
        2,
        None,
        "schedule `s` has no `timezone`",
    );
}

#[test]
fn malformed_ranges() {
    for (range, needle) in [
        ("25:00-26:00", "hour 25 is not 00-23"),
        ("09:00-09:00", "start and end are the same time"),
        ("09:60-10:00", "minute 60 is not 00-59"),
        ("24:00-02:00", "cannot start at 24:00"),
        ("9-17", "not a time HH:MM"),
        ("09:00", "a range is \\\"HH:MM-HH:MM\\\""),
    ] {
        let yaml = with_schedule(&format!("{TZ}    hours:\n      mon-fri: [\"{range}\"]\n"));
        let errs = errors(&yaml);
        assert_eq!(errs.len(), 1, "{range}: {errs:#?}");
        assert_eq!(errs[0].line, Some(5), "{range}: {}", errs[0]);
        let msg = &errs[0].message;
        assert!(
            msg.contains(&format!(
                "schedule `s`: `mon-fri`: invalid range \"{range}\""
            )) && msg.contains(&needle.replace("\\\"", "\"")),
            "{range}: {msg}"
        );
    }
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon: [\"09:00-12:00\", 930]\n"
        )),
        5,
        None,
        "a range is a string \"HH:MM-HH:MM\", got 930",
    );
    one_error(
        &with_schedule(&format!("{TZ}    hours:\n      sat: \"10:00-14:00\"\n")),
        5,
        None,
        "`sat` must be a list of ranges like [\"09:00-17:00\"]",
    );
}

#[test]
fn ranges_across_midnight_run_into_the_next_day() {
    let rs = rules(&with_schedule(&format!(
        "{TZ}    hours:\n      fri: [\"22:00-02:00\"]\n      sat: [\"02:00-04:00\"]\n"
    )));
    let s = rs.schedule("s").unwrap();
    assert_eq!(s.day(4)[0].to_string(), "22:00-02:00");
    // Friday 2026-05-01 23:30 and Saturday 01:30 New York (EDT, UTC-4) are open.
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(s.is_open(at("2026-05-02T03:30:00Z")));
    assert!(s.is_open(at("2026-05-02T05:30:00Z")));
    assert!(s.is_open(at("2026-05-02T07:30:00Z")), "sat 03:30");
    assert!(!s.is_open(at("2026-05-02T08:30:00Z")), "sat 04:30");
    // Running into the next day's range is an overlap.
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon: [\"22:00-02:00\"]\n      tue: [\"01:00-03:00\"]\n"
        )),
        6,
        None,
        "range \"01:00-03:00\" on tue overlaps \"22:00-02:00\" on mon",
    );
    // Sunday night runs into Monday.
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon: [\"00:30-08:00\"]\n      sun: [\"23:00-01:00\"]\n"
        )),
        6,
        None,
        "range \"23:00-01:00\" on sun overlaps \"00:30-08:00\" on mon",
    );
}

#[test]
fn overlapping_ranges_on_one_day() {
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon: [\"09:00-12:00\", \"11:00-13:00\"]\n"
        )),
        5,
        None,
        "range \"11:00-13:00\" on mon overlaps \"09:00-12:00\" on mon",
    );
    // Through overlapping day keys: reported once, not once per shared day.
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon-fri: [\"09:00-12:00\"]\n      wed: [\"11:30-14:00\"]\n"
        )),
        6,
        None,
        "range \"11:30-14:00\" on wed overlaps \"09:00-12:00\" on wed (from `mon-fri`)",
    );
    // Touching ranges (the end is exclusive) and overlapping day keys with disjoint times
    // are fine.
    let rs = rules(&with_schedule(&format!(
        "{TZ}    hours:\n      mon-fri: [\"09:00-12:00\", \"12:00-13:00\"]\n      wed: [\"13:00-18:00\"]\n"
    )));
    assert_eq!(rs.schedule("s").unwrap().day(2).len(), 3);
}

#[test]
fn day_keys() {
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon-fri: [\"09:00-12:00\"]\n      Mon-Fri: [\"13:00-14:00\"]\n"
        )),
        6,
        None,
        "days `Mon-Fri` are given twice (also as `mon-fri`)",
    );
    // The same key twice is a YAML error, with its line.
    let errs = errors(&with_schedule(&format!(
        "{TZ}    hours:\n      mon: [\"09:00-12:00\"]\n      mon: [\"13:00-14:00\"]\n"
    )));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].line.is_some(), "{}", errs[0]);
    assert!(
        errs[0].message.contains("duplicate entry with key \"mon\""),
        "{}",
        errs[0]
    );
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      monday: [\"09:00-12:00\"]\n"
        )),
        5,
        None,
        "unknown day `monday`",
    );
    one_error(
        &with_schedule(&format!(
            "{TZ}    hours:\n      mon-mon: [\"09:00-12:00\"]\n"
        )),
        5,
        None,
        "`mon-mon` is one day: write `mon`",
    );
    one_error(
        &with_schedule(&format!("{TZ}    hours: {{}}\n")),
        4,
        None,
        "schedule `s` has no `hours`: its agents would never be open",
    );
    one_error(
        &with_schedule(&format!("{TZ}    hours: {{sat: [], sun: []}}\n")),
        4,
        None,
        "schedule `s` has no ranges",
    );
}

#[test]
fn holidays() {
    let hours = "    hours: {mon: [\"09:00-17:00\"]}\n";
    one_error(
        &with_schedule(&format!(
            "{TZ}{hours}    holidays:\n      - 2026-12-25\n      - 2026-12-25\n"
        )),
        7,
        None,
        "holiday 2026-12-25 is listed twice",
    );
    for bad in ["2026-13-01", "2026-02-30", "2026-1-1", "Dec 25"] {
        one_error(
            &with_schedule(&format!("{TZ}{hours}    holidays:\n      - {bad}\n")),
            6,
            None,
            &format!("invalid holiday \"{bad}\": a holiday is a date \"YYYY-MM-DD\""),
        );
    }
    one_error(
        &with_schedule(&format!("{TZ}{hours}    holidays: 2026-12-25\n")),
        5,
        None,
        "`holidays` must be a list of dates",
    );
    one_error(
        &with_schedule(&format!("{TZ}{hours}    vacation: []\n")),
        2,
        None,
        "schedule `s`: unknown key \"vacation\" (expected timezone, hours, holidays)",
    );
}

#[test]
fn caps_must_be_positive_integers() {
    for cap in ["0", "-1", "1.5", "\"10\"", "ten", "[]"] {
        for key in ["daily_cap", "open_cap"] {
            let yaml = format!(
                "agents:\n  a:\n    {key}: {cap}\npools:\n  p: {{members: [a]}}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n"
            );
            one_error(
                &yaml,
                3,
                None,
                &format!("agent `a`: `{key}` must be a whole number > 0, got"),
            );
            let yaml = format!(
                "pools:\n  p:\n    members: [a]\n    {key}: {cap}\nrules:\n  - {{name: r, assign: {{pool: p}}}}\n"
            );
            one_error(
                &yaml,
                4,
                None,
                &format!("pool `p`: `{key}` must be a whole number > 0, got"),
            );
        }
    }
}

#[test]
fn unknown_schedules_and_keys() {
    one_error(
        "agents:\n  a: {schedule: nights}\npools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
        2,
        None,
        "agent `a`: unknown schedule `nights` (schedules: none defined)",
    );
    one_error(
        "schedules:\n  day: {timezone: UTC, hours: {mon: [\"09:00-17:00\"]}}\npools:\n  p:\n    members: [a]\n    schedule: night\nrules:\n  - {name: r, assign: {pool: p}}\n",
        6,
        None,
        "pool `p`: unknown schedule `night` (schedules: day)",
    );
    one_error(
        "agents:\n  a: {colour: red}\npools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
        2,
        None,
        "agent `a`: unknown key \"colour\" (expected schedule, daily_cap, open_cap)",
    );
    one_error(
        "agents:\n  a: 5\npools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
        2,
        None,
        "agent `a` must be a mapping with schedule, daily_cap, open_cap",
    );
    one_error(
        "pools:\n  p: {members: [a], shedule: x}\nrules:\n  - {name: r, assign: {pool: p}}\n",
        2,
        None,
        "pool `p`: unknown key \"shedule\" (expected strategy, members, schedule, daily_cap, open_cap)",
    );
    // A broken schedule is reported once, not again where it is used.
    let errs = errors(
        "schedules:\n  s: {timezone: Nowhere, hours: {mon: [\"09:00-17:00\"]}}\nagents:\n  a: {schedule: s}\npools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn a_capped_member_needs_one_midnight() {
    let yaml = "schedules:\n  ny: {timezone: America/New_York, hours: {mon-fri: [\"09:00-17:00\"]}}\n  berlin: {timezone: Europe/Berlin, hours: {mon-fri: [\"09:00-17:00\"]}}\npools:\n  a: {members: [x], schedule: ny}\n  b:\n    members: [x]\n    schedule: berlin\n    daily_cap: 5\nrules:\n  - {name: r, assign: {pool: a}}\n  - {name: s, assign: {pool: b}}\n";
    one_error(
        yaml,
        8,
        None,
        "agent `x` has a daily cap and is a member of pools `a` (schedule `ny`, America/New_York) and `b` (schedule `berlin`, Europe/Berlin)",
    );
    // Its own schedule settles it; so does having no daily cap.
    let own = yaml.replace("pools:\n", "agents:\n  x: {schedule: ny}\npools:\n");
    let rs = rules(&own);
    assert_eq!(rs.day_schedule("x").map(|s| s.name()), Some("ny"));
    let uncapped = rules(&yaml.replace("    daily_cap: 5\n", ""));
    assert_eq!(uncapped.day_schedule("x").map(|s| s.name()), Some("ny"));
}

#[test]
fn warnings_for_unused_schedules_and_agents_nothing_routes_to() {
    let loaded = try_rules(
        "schedules:\n  used: {timezone: UTC, hours: {mon: [\"09:00-17:00\"]}}\n  spare: {timezone: UTC, hours: {sat: [\"10:00-14:00\"]}}\nagents:\n  a: {schedule: used}\n  ghost: {daily_cap: 3}\n  direct: {open_cap: 3}\npools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n  - {name: d, assign: {agent: direct}}\n",
    )
    .expect("valid with warnings");
    let w: Vec<(Option<usize>, &str)> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (
                Some(6),
                "agent `ghost` is in no pool and no rule names it: its settings hold back no lead (schedules and caps apply to pool deals)"
            ),
            (Some(3), "schedule `spare` is not used by any agent or pool"),
        ],
        "{:#?}",
        loaded.warnings
    );
}

#[test]
fn member_settings_fall_back_to_the_pool_one_by_one() {
    let rs = rules(
        "schedules:\n  day: {timezone: America/New_York, hours: {mon-fri: [\"09:00-17:00\"]}}\n  night: {timezone: America/New_York, hours: {mon-fri: [\"22:00-06:00\"]}}\nagents:\n  a: {schedule: night, open_cap: 40}\n  b: {daily_cap: 3}\npools:\n  p:\n    members: [a, b, c]\n    schedule: day\n    daily_cap: 8\n    open_cap: 30\n  q: {members: [a, c]}\nrules:\n  - {name: r, assign: {pool: p}}\n  - {name: s, assign: {pool: q}}\n",
    );
    let p = rs.pool("p").unwrap();
    let q = rs.pool("q").unwrap();
    let of = |pool, agent| {
        let s = rs.member_settings(pool, agent);
        (
            s.schedule.map(|s| s.name().to_owned()),
            s.daily_cap,
            s.open_cap,
            s.day.map(|s| s.name().to_owned()),
        )
    };
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        of(p, "a"),
        (some("night"), Some(8), Some(40), some("night"))
    );
    assert_eq!(of(p, "b"), (some("day"), Some(3), Some(30), some("day")));
    assert_eq!(of(p, "c"), (some("day"), Some(8), Some(30), some("day")));
    // In a pool without defaults only the agent's own settings hold.
    assert_eq!(of(q, "a"), (some("night"), None, Some(40), some("night")));
    assert_eq!(of(q, "c"), (None, None, None, some("day")));
    assert!(rs.has_availability_settings());
    assert!(
        !rules("pools:\n  p: {members: [a]}\nrules:\n  - {name: r, assign: {pool: p}}\n")
            .has_availability_settings()
    );
    // An agent nobody schedules counts its days in UTC.
    let at = "2026-03-08T03:30:00Z".parse().unwrap();
    assert_eq!(rs.local_day("zed", at).to_string(), "2026-03-08");
    assert_eq!(rs.local_day("c", at).to_string(), "2026-03-07");
}

#[test]
fn owner_of_contact_compiles() {
    let rs = rules(
        "rules:\n  - name: returning\n    assign: {owner_of_contact: {match: [email, phone], within: 90d}}\n    if_halted: assign\n  - name: again\n    assign: {owner_of_contact: {match: [phone]}}\n  - {name: rest, assign: unassigned}\n",
    );
    let Action::OwnerOfContact(m) = &rs.rules()[0].action else {
        panic!("{:?}", rs.rules()[0].action)
    };
    assert_eq!(m.keys, vec![ContactField::Email, ContactField::Phone]);
    assert_eq!(m.within, Duration::from_secs(90 * 86_400));
    let Action::OwnerOfContact(m) = &rs.rules()[1].action else {
        panic!("{:?}", rs.rules()[1].action)
    };
    assert_eq!(m.keys, vec![ContactField::Phone]);
    assert_eq!(m.within, Duration::from_secs(365 * 86_400), "the default");

    // Until the lookup lands, the rule passes and says why.
    let d = route(&rs, json!({"contact": {"email": "a@b.c"}}));
    assert_eq!(d.rule.as_deref(), Some("rest"));
    assert_eq!(d.trace.rules[0].outcome, RuleOutcome::Passed);
    assert!(
        d.trace.rules[0].reason.contains("owner_of_contact"),
        "{:?}",
        d.trace.rules[0]
    );
}

#[test]
fn owner_of_contact_mistakes() {
    let rule = |assign: &str| format!("rules:\n  - name: c\n    assign: {assign}\n");
    for (assign, needle) in [
        (
            "{owner_of_contact: {match: [email, fax]}}",
            "owner_of_contact: cannot match by \"fax\" (match by email, phone)",
        ),
        (
            "{owner_of_contact: {match: [email, email]}}",
            "owner_of_contact: `email` is listed twice in match",
        ),
        (
            "{owner_of_contact: {match: []}}",
            "owner_of_contact needs `match`: a non-empty list of email, phone, got []",
        ),
        (
            "{owner_of_contact: {within: 30d}}",
            "owner_of_contact needs `match`",
        ),
        (
            "{owner_of_contact: {match: [email], within: 10}}",
            "owner_of_contact: `within`: a bare number (10) is ambiguous",
        ),
        (
            "{owner_of_contact: {match: [email], within: soon}}",
            "owner_of_contact: `within`: expected a duration",
        ),
        (
            "{owner_of_contact: {match: [email], within: 0s}}",
            "`within` must be longer than 0",
        ),
        (
            "{owner_of_contact: {match: [email], since: 30d}}",
            "owner_of_contact: unknown key \"since\" (expected match, within)",
        ),
        (
            "{owner_of_contact: email}",
            "owner_of_contact takes {match: [email, phone], within: DURATION}",
        ),
    ] {
        one_error(&rule(assign), 3, Some("c"), needle);
    }
    // The forms `assign` takes name it.
    one_error(
        "rules:\n  - name: c\n    assign: {owner: x}\n",
        3,
        Some("c"),
        "{owner_of_contact: {match: [email, phone], within: DURATION}}",
    );
}
