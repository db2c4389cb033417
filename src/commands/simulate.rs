//! `leadrouter simulate`: route leads from a file or stdin with in-memory state and
//! print one JSON line per lead. Bad lines are reported on stderr; the rest still route.
use super::{CliError, Outcome};
use crate::lead::{DEFAULT_MAX_MESSAGE_BYTES, Lead, parse_lead};
use crate::routing::{LeadStatus, MemoryState, RoutingDecision, Trace, decide};
use crate::rules::Ruleset;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The rules file.
    #[arg(long, default_value = "rules/routing.yaml")]
    pub rules: PathBuf,
    /// Agents to treat as halted, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub halted: Vec<String>,
    /// Agents to treat as inactive (offboarded), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub inactive: Vec<String>,
    /// The leads file (JSON Lines); standard input when absent or `-`.
    pub leads: Option<PathBuf>,
}

/// The line `simulate` prints for one lead (SPEC section 4).
#[derive(Serialize)]
pub struct SimulatedLine<'a> {
    pub lead_id: &'a str,
    pub status: LeadStatus,
    pub owner_id: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub pool: Option<&'a str>,
    pub rule: Option<&'a str>,
    /// The agent a pool offers the lead to (SPEC 3.3); null until pools make offers.
    pub offered_to: Option<&'a str>,
    /// The deciding rule's assignees (SPEC 3.1), `[]` when none.
    pub assignees: &'a [String],
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
            offered_to: None,
            assignees: &d.assignees,
            trace: &d.trace,
        }
    }
}

/// Loads the rules and the input, then routes it ([`route_lines`]).
pub fn run(
    args: SimulateArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let rules = Ruleset::load(&args.rules).map_err(|source| CliError::Rules {
        path: args.rules.clone(),
        source,
    })?;
    let (name, input): (PathBuf, Box<dyn Read>) = match args.leads {
        Some(path) if path.as_os_str() != "-" => match std::fs::File::open(&path) {
            Ok(f) => (path, Box::new(f)),
            Err(source) => return Err(CliError::Input { path, source }),
        },
        _ => ("standard input".into(), Box::new(std::io::stdin().lock())),
    };
    let agents = Agents {
        halted: args.halted,
        inactive: args.inactive,
    };
    let input = Input {
        name,
        lines: BufReader::new(input),
    };
    route_lines(&rules.ruleset, agents, input, out, err)
}

/// The leads to route, and what to call them in an error.
pub struct Input<R> {
    pub name: PathBuf,
    pub lines: R,
}

/// The agents `simulate` treats as halted or inactive.
pub struct Agents {
    pub halted: Vec<String>,
    pub inactive: Vec<String>,
}

/// Routing leads one after another with in-memory state, as `simulate` does: the
/// command reads them from lines, the API from a JSON list.
pub struct Simulation<'r> {
    rules: &'r Ruleset,
    state: MemoryState,
    /// Lead id → the input (line, or position) that routed it.
    seen: HashMap<String, usize>,
}

impl<'r> Simulation<'r> {
    pub fn new(rules: &'r Ruleset, agents: Agents) -> Self {
        let mut state = MemoryState::new().with_halted(agents.halted);
        state.inactive.extend(agents.inactive);
        Simulation {
            rules,
            state,
            seen: HashMap::new(),
        }
    }

    /// Decides `lead`, the input numbered `n`; `Err(first)` when the input numbered
    /// `first` had the same id (not routed again: the daemon acknowledges duplicates
    /// without a decision).
    pub fn route(&mut self, lead: &Lead, n: usize) -> Result<RoutingDecision, usize> {
        if let Some(first) = self.seen.get(lead.id.as_str()) {
            return Err(*first);
        }
        self.seen.insert(lead.id.as_str().to_owned(), n);
        Ok(decide(self.rules, lead, &mut self.state))
    }
}

/// Routes each line in order and prints its decision; a bad line is reported on `err`
/// and the rest still route ([`Outcome::InvalidInput`] at the end).
pub fn route_lines(
    rules: &Ruleset,
    agents: Agents,
    input: Input<impl BufRead>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let mut sim = Simulation::new(rules, agents);
    let (mut bad, mut routed) = (0usize, 0usize);
    let mut by_status: HashMap<&'static str, usize> = HashMap::new();
    for (i, line) in input.lines.split(b'\n').enumerate() {
        let n = i + 1;
        let line = line.map_err(|source| CliError::Input {
            path: input.name.clone(),
            source,
        })?;
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
        let d = match sim.route(&lead, n) {
            Ok(d) => d,
            Err(first) => {
                writeln!(
                    err,
                    "line {n}: lead {:?} already routed at line {first}; not routed again (the daemon acknowledges duplicates without a decision)",
                    lead.id.as_str()
                )?;
                continue;
            }
        };
        *by_status.entry(d.status.as_str()).or_default() += 1;
        routed += 1;
        serde_json::to_writer(&mut *out, &SimulatedLine::new(lead.id.as_str(), &d))
            .map_err(std::io::Error::from)?;
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
        Outcome::InvalidInput
    } else {
        Outcome::Success
    })
}
