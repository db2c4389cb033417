//! `leadrouter simulate`: route leads from a file or stdin with in-memory state and
//! print one JSON line per lead. Bad lines are reported on stderr; the rest still route.
use crate::lead::{DEFAULT_MAX_MESSAGE_BYTES, parse_lead};
use crate::routing::{LeadStatus, MemoryState, RoutingDecision, Trace, decide};
use crate::rules::Ruleset;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// The line `simulate` prints for one lead (SPEC section 4).
#[derive(Serialize)]
pub struct SimulatedLine<'a> {
    pub lead_id: &'a str,
    pub status: LeadStatus,
    pub owner_id: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub trace: &'a Trace,
}

impl<'a> SimulatedLine<'a> {
    pub fn new(lead_id: &'a str, d: &'a RoutingDecision) -> Self {
        Self {
            lead_id,
            status: d.status,
            owner_id: d.owner_id.as_deref(),
            queue: d.queue.as_deref(),
            pool: d.pool.as_deref(),
            rule: d.rule.as_deref(),
            trace: &d.trace,
        }
    }
}

pub struct Options {
    pub halted: Vec<String>,
    pub inactive: Vec<String>,
}

pub fn run(
    rules: &Ruleset,
    opts: Options,
    input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<ExitCode> {
    let mut state = MemoryState::new().with_halted(opts.halted);
    state.inactive.extend(opts.inactive);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut bad, mut routed) = (0usize, 0usize);
    let mut by_status: HashMap<&'static str, usize> = HashMap::new();
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let lead = match parse_lead(&line, DEFAULT_MAX_MESSAGE_BYTES) {
            Ok(l) => l,
            Err(rejection) => {
                writeln!(err, "line {n}: rejected: {rejection}")?;
                bad += 1;
                continue;
            }
        };
        if let Some(first) = seen.get(lead.id.as_str()) {
            writeln!(
                err,
                "line {n}: lead {:?} already routed at line {first}; not routed again (the daemon acknowledges duplicates without a decision)",
                lead.id.as_str()
            )?;
            continue;
        }
        seen.insert(lead.id.as_str().to_owned(), n);
        let d = decide(rules, &lead, &mut state);
        *by_status.entry(d.status.as_str()).or_default() += 1;
        routed += 1;
        serde_json::to_writer(&mut *out, &SimulatedLine::new(lead.id.as_str(), &d))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let count = |s| by_status.get(s).copied().unwrap_or(0);
    writeln!(
        err,
        "simulated {routed} leads: {} assigned, {} queued, {} unassigned{}",
        count("assigned"),
        count("queued"),
        count("unassigned"),
        if bad > 0 {
            format!("; {bad} bad line(s)")
        } else {
            String::new()
        }
    )?;
    Ok(if bad > 0 {
        super::invalid()
    } else {
        ExitCode::SUCCESS
    })
}
