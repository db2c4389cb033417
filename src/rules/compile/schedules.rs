//! `schedules:` name → {timezone, hours, holidays} (SPEC 3.4).
use super::{Compiler, Parts, show};
use crate::rules::schedule::{self, DAY_NAMES, Schedule, Span};
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::HashMap;

/// The keys a schedule accepts.
const SCHEDULE_KEYS: &[&str] = &["timezone", "hours", "holidays"];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(m) = v.as_mapping() else {
        c.err(
            "schedules",
            "`schedules` must be a mapping of schedule name to {timezone, hours, holidays}",
        );
        return;
    };
    for (k, body) in m {
        let Some(name) = c.key_str(k, "schedules") else {
            continue;
        };
        parts.schedule_names.insert(name.clone());
        if let Some(s) = c.schedule(&name, body) {
            parts.schedules.insert(name, s);
        }
    }
}

/// A range as compiled, with where it was written (for overlap messages).
struct Written {
    weekday: usize,
    span: Span,
    /// The `hours` key it came from (`mon-fri`).
    key: String,
    /// Its YAML path (the line of errors about it).
    at: String,
}

impl Compiler<'_> {
    fn schedule(&mut self, name: &str, body: &Yaml) -> Option<Schedule> {
        let at = format!("schedules.{name}");
        let Some(body) = body.as_mapping() else {
            self.err(
                &at,
                format!("schedule `{name}` must be a mapping with `timezone` and `hours`"),
            );
            return None;
        };
        for k in body.keys() {
            if !k.as_str().is_some_and(|k| SCHEDULE_KEYS.contains(&k)) {
                self.err(
                    &at,
                    format!(
                        "schedule `{name}`: unknown key {} (expected {})",
                        show(k),
                        SCHEDULE_KEYS.join(", ")
                    ),
                );
            }
        }
        let errors_before = self.errors.len();
        let zone = match body.get("timezone") {
            None | Some(Yaml::Null) => {
                self.err(
                    &at,
                    format!("schedule `{name}` has no `timezone` (an IANA zone such as America/New_York)"),
                );
                None
            }
            Some(z) => match z.as_str().map(schedule::parse_zone) {
                Some(Ok(z)) => Some(z),
                Some(Err(e)) => {
                    self.err(&format!("{at}.timezone"), format!("schedule `{name}`: {e}"));
                    None
                }
                None => {
                    self.err(
                        &format!("{at}.timezone"),
                        format!(
                            "schedule `{name}`: `timezone` must be a zone name, got {}",
                            show(z)
                        ),
                    );
                    None
                }
            },
        };
        let week = self.hours(name, &at, body);
        let holidays = self.holidays(name, &at, body.get("holidays"));
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Schedule::new(name, zone?, week, holidays))
    }

    /// `hours:` day or day range → list of ranges; checked for overlaps across the week.
    fn hours(&mut self, name: &str, at: &str, body: &Mapping) -> [Vec<Span>; 7] {
        let mut week: [Vec<Span>; 7] = Default::default();
        let at_h = format!("{at}.hours");
        let hours = match body.get("hours") {
            Some(Yaml::Mapping(m)) if !m.is_empty() => m,
            None | Some(Yaml::Null) | Some(Yaml::Mapping(_)) => {
                self.err(
                    &at_h,
                    format!("schedule `{name}` has no `hours`: its agents would never be open"),
                );
                return week;
            }
            Some(other) => {
                self.err(
                    &at_h,
                    format!(
                        "schedule `{name}`: `hours` must map days (mon..sun, or ranges like mon-fri) to lists of \"HH:MM-HH:MM\", got {}",
                        show(other)
                    ),
                );
                return week;
            }
        };
        let errors_before = self.errors.len();
        let mut written: Vec<Written> = Vec::new();
        let mut listed = 0;
        // Day keys as normalised (`Mon-Fri` is `mon-fri`) → as written, to catch repeats.
        let mut keys: HashMap<String, String> = HashMap::new();
        for (k, v) in hours {
            let Some(key) = k.as_str() else {
                self.err(
                    &at_h,
                    format!(
                        "schedule `{name}`: a day key must be a string, got {}",
                        show(k)
                    ),
                );
                continue;
            };
            let at_k = format!("{at_h}.{key}");
            let days = match schedule::parse_days(key) {
                Ok(d) => d,
                Err(e) => {
                    self.err(&at_k, format!("schedule `{name}`: {e}"));
                    continue;
                }
            };
            let normal = normal_days(&days);
            if let Some(first) = keys.insert(normal.clone(), key.to_owned()) {
                self.err(
                    &at_k,
                    format!("schedule `{name}`: days `{key}` are given twice (also as `{first}`)"),
                );
                continue;
            }
            let Some(items) = v.as_sequence() else {
                self.err(
                    &at_k,
                    format!(
                        "schedule `{name}`: `{key}` must be a list of ranges like [\"09:00-17:00\"], got {}",
                        show(v)
                    ),
                );
                continue;
            };
            listed += items.len();
            for (i, item) in items.iter().enumerate() {
                let at_i = format!("{at_k}.{i}");
                let parsed = match item.as_str() {
                    Some(text) => schedule::parse_range(text),
                    None => Err(format!(
                        "a range is a string \"HH:MM-HH:MM\", got {}",
                        show(item)
                    )),
                };
                match parsed {
                    Ok(span) => written.extend(days.iter().map(|&weekday| Written {
                        weekday,
                        span,
                        key: key.to_owned(),
                        at: at_i.clone(),
                    })),
                    Err(e) => self.err(&at_i, format!("schedule `{name}`: `{key}`: {e}")),
                }
            }
        }
        self.overlaps(name, &written);
        if listed == 0 && self.errors.len() == errors_before {
            // Every day listed, each with an empty list.
            self.err(
                &at_h,
                format!("schedule `{name}` has no ranges: its agents would never be open"),
            );
        }
        for w in written {
            week[w.weekday].push(w.span);
        }
        week
    }

    /// One error per pair of written ranges that overlap (`mon-fri` against `wed` once,
    /// not for each day they share), at the later one's line.
    fn overlaps(&mut self, name: &str, written: &[Written]) {
        let ranges: Vec<(usize, Span)> = written.iter().map(|w| (w.weekday, w.span)).collect();
        let mut reported: Vec<(&str, &str)> = Vec::new();
        for (i, j) in schedule::overlapping_pairs(&ranges) {
            let (a, b) = (&written[i], &written[j]);
            if reported.contains(&(&a.at, &b.at)) {
                continue;
            }
            reported.push((&a.at, &b.at));
            let from = |w: &Written| {
                if w.key == DAY_NAMES[w.weekday] {
                    format!("on {}", DAY_NAMES[w.weekday])
                } else {
                    format!("on {} (from `{}`)", DAY_NAMES[w.weekday], w.key)
                }
            };
            self.err(
                &b.at,
                format!(
                    "schedule `{name}`: range \"{}\" {} overlaps \"{}\" {}",
                    b.span,
                    from(b),
                    a.span,
                    from(a)
                ),
            );
        }
    }

    fn holidays(&mut self, name: &str, at: &str, v: Option<&Yaml>) -> Vec<chrono::NaiveDate> {
        let at_h = format!("{at}.holidays");
        let items = match v {
            None | Some(Yaml::Null) => return vec![],
            Some(Yaml::Sequence(s)) => s,
            Some(other) => {
                self.err(
                    &at_h,
                    format!(
                        "schedule `{name}`: `holidays` must be a list of dates \"YYYY-MM-DD\", got {}",
                        show(other)
                    ),
                );
                return vec![];
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at_i = format!("{at_h}.{i}");
            let parsed = match item.as_str() {
                Some(text) => schedule::parse_holiday(text.trim()),
                None => Err(format!(
                    "invalid holiday {}: a holiday is a date \"YYYY-MM-DD\"",
                    show(item)
                )),
            };
            match parsed {
                Ok(d) if out.contains(&d) => self.err(
                    &at_i,
                    format!("schedule `{name}`: holiday {d} is listed twice"),
                ),
                Ok(d) => out.push(d),
                Err(e) => self.err(&at_i, format!("schedule `{name}`: {e}")),
            }
        }
        out
    }
}

/// A day set's key in one spelling (`mon-wed`), to compare keys written differently.
fn normal_days(days: &[usize]) -> String {
    let names: Vec<&str> = days.iter().map(|d| DAY_NAMES[*d]).collect();
    names.join(",")
}
