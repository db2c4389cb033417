//! What the database commands (`agents`, `leads`, `replay`) share: the `--config` and
//! `--as` options, connecting to an up-to-date schema, and text formatting.
use super::CliError;
use crate::config::Config;
use crate::rules::Ruleset;
use crate::store::{ROUTER_ACTOR, Store};
use chrono::{DateTime, Utc};
use clap::builder::NonEmptyStringValueParser;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `--config FILE`: where the database URL (and the rules path) come from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DbArgs {
    /// Config file (as for `run`). Without it: built-in defaults and the environment
    /// (`DATABASE_URL`, `LEADROUTER_SECTION__KEY`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--as NAME`: who makes a change.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ActorArgs {
    /// Who makes the change: the `actor` of the decision row and of the event
    /// (default: your login name from $USER or $LOGNAME, else "admin").
    #[arg(long = "as", value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub actor: Option<String>,
}

/// Actors the daemon writes itself. Allowing them for a person would make `replay`
/// take a manual change for a router decision, and the CRM could not tell them apart.
pub(crate) const RESERVED_ACTORS: [&str; 2] = [ROUTER_ACTOR, "sweeper"];

impl ActorArgs {
    /// The actor to record: `--as`, else the login name, else "admin".
    pub fn resolve(&self) -> Result<String, CliError> {
        not_reserved(self.actor.clone().unwrap_or_else(login_name))
    }
}

/// Refuses the daemon's own actor names for a person.
pub fn not_reserved(name: String) -> Result<String, CliError> {
    if RESERVED_ACTORS.contains(&name.as_str()) {
        return Err(CliError::Invalid(format!(
            "actor {name:?} is reserved for the daemon's own decisions; name yourself with --as NAME"
        )));
    }
    Ok(name)
}

fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "admin".to_owned())
}

/// Loads the configuration (`--config`, then the environment).
pub fn load_config(args: &DbArgs) -> Result<Config, CliError> {
    Ok(Config::load(args.config.as_deref())?)
}

/// Connects to the configured database, whose schema must be the one this binary
/// embeds: these commands never create a database or write the schema (`leadrouter
/// migrate` does), so an older binary cannot fail half-way on a newer schema, nor a
/// newer one migrate under running daemons.
pub async fn connect(config: &Config) -> Result<Store, CliError> {
    // Two connections are plenty for one admin command.
    Ok(Store::connect_existing(config.database.url.expose(), 2).await?)
}

/// Warns (without refusing) when `agent` is nobody the database knows: likely a typo.
pub async fn warn_if_unknown(
    store: &Store,
    agent: &str,
    err: &mut impl Write,
) -> Result<(), CliError> {
    if !store.agent_known(agent).await? {
        writeln!(
            err,
            "note: {agent} has no agents row and no open leads: check the spelling if that is unexpected."
        )?;
    }
    Ok(())
}

/// Loads a rules file given on the command line (`--rules`); the rules in force come
/// from [`crate::in_force::rules_in_force`].
pub fn load_rules(path: &Path) -> Result<Ruleset, CliError> {
    Ruleset::load(path)
        .map(|l| l.ruleset)
        .map_err(|source| CliError::Rules {
            path: path.to_owned(),
            source,
        })
}

/// `2024-05-01 12:00:00 UTC`: what a person reads in a terminal.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `1,204`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 lead`, `2 leads`.
pub fn plural(n: u64, word: &str) -> String {
    format!("{} {word}{}", thousands(n), if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(plural(1, "lead"), "1 lead");
        assert_eq!(plural(1204, "lead"), "1,204 leads");
    }

    #[test]
    fn reserved_actors_are_refused() {
        let args = ActorArgs {
            actor: Some("router".into()),
        };
        assert!(matches!(args.resolve(), Err(CliError::Invalid(_))));
        let args = ActorArgs {
            actor: Some("jdoe".into()),
        };
        assert_eq!(args.resolve().unwrap(), "jdoe");
    }
}
