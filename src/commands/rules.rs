//! `leadrouter rules publish|history|rollback|show`: the rules kept in PostgreSQL
//! (SPEC 10). Publishing and rolling back are library functions here ([`publish`],
//! [`rollback`]) that the API calls too.
use super::admin::{ActorArgs, DbArgs, connect, load_config, when};
use super::{CliError, Outcome, block_on};
use crate::config::RulesSource;
use crate::rules::{Diagnostic, Loaded, RulesError, Ruleset};
use crate::store::{Activated, NewRuleset, Store, StoreError, StoredRuleset};
use clap::builder::NonEmptyStringValueParser;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file (as `check`) and publish it with the scripts it names:
    /// stored in PostgreSQL and made active. Every daemon with `rules.source: database`
    /// routes by it within 2 seconds. Publishing text published before activates that
    /// version again.
    Publish(PublishArgs),
    /// The published versions, newest first: hash, when, who, note, and which is active.
    History(HistoryArgs),
    /// Make an earlier version active again.
    Rollback(RollbackArgs),
    /// Print a version's YAML and its scripts (default: the active version).
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The rules file; the scripts it names are read relative to it.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Why; kept with the version (`rules history`).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// At most this many versions.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The version to make active (its hash, as `rules history` shows it).
    #[arg(value_name = "HASH", value_parser = NonEmptyStringValueParser::new())]
    pub hash: String,
    /// Why; recorded with the activation.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The version (default: the active one).
    #[arg(value_name = "HASH")]
    pub hash: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Rules text not yet published: the YAML and the scripts it names, by path as named.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub yaml: String,
    pub scripts: BTreeMap<String, String>,
}

impl Draft {
    /// Reads a rules file and every script it names (relative to it).
    pub fn from_file(path: &Path) -> Result<Draft, RulesError> {
        let yaml = std::fs::read_to_string(path).map_err(|e| RulesError {
            errors: vec![Diagnostic::new(
                path,
                None,
                None,
                format!("cannot read rules file: {e}"),
            )],
        })?;
        let loaded = Ruleset::from_source(&yaml, path)?;
        Ok(Draft {
            yaml,
            scripts: loaded.ruleset.scripts().clone(),
        })
    }

    /// Compiles the text as `check` does, with no file access: exactly what a daemon
    /// loading it from the database does. `name` names it in messages.
    pub fn compile(&self, name: &Path) -> Result<Loaded, RulesError> {
        Ruleset::from_sources(&self.yaml, &self.scripts, name)
    }
}

/// Why a publish or a rollback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The rules do not load (nothing was stored); every error with its line.
    #[error("cannot publish {}:\n{source}", name.display())]
    Invalid {
        name: PathBuf,
        #[source]
        source: RulesError,
    },
    #[error("no published version has hash {0:?} (see `leadrouter rules history`)")]
    UnknownVersion(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PublishError> for CliError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Store(e) => CliError::Store(e),
            other => CliError::Invalid(other.to_string()),
        }
    }
}

/// Validates `draft` and publishes it, recorded as `actor`'s with `note`.
pub async fn publish(
    store: &Store,
    draft: &Draft,
    name: &Path,
    actor: &str,
    note: Option<&str>,
) -> Result<(Activated, Loaded), PublishError> {
    let loaded = draft
        .compile(name)
        .map_err(|source| PublishError::Invalid {
            name: name.to_owned(),
            source,
        })?;
    let new = NewRuleset {
        hash: loaded.ruleset.hash(),
        yaml: &draft.yaml,
        scripts: loaded.ruleset.scripts(),
    };
    let done = store.publish_ruleset(&new, actor, note).await?;
    Ok((done, loaded))
}

/// Makes the stored version `hash` active again, after checking that it loads with
/// this binary (a daemon would refuse it otherwise).
pub async fn rollback(
    store: &Store,
    hash: &str,
    actor: &str,
    note: Option<&str>,
) -> Result<Activated, PublishError> {
    let version = store
        .ruleset(hash)
        .await?
        .ok_or_else(|| PublishError::UnknownVersion(hash.to_owned()))?;
    version.compile().map_err(|source| PublishError::Invalid {
        name: version.name(),
        source,
    })?;
    store
        .rollback_ruleset(hash, actor, note)
        .await?
        .ok_or_else(|| PublishError::UnknownVersion(hash.to_owned()))
}

pub fn run(
    cmd: RulesCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    block_on(async {
        match cmd {
            RulesCommand::Publish(a) => publish_command(a, out, err).await,
            RulesCommand::History(a) => history(a, out).await,
            RulesCommand::Rollback(a) => rollback_command(a, out, err).await,
            RulesCommand::Show(a) => show(a, out).await,
        }
    })
}

async fn publish_command(
    args: PublishArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    // Validated before connecting: a typo should not need a database.
    let draft = Draft::from_file(&args.file).map_err(|source| CliError::Rules {
        path: args.file.clone(),
        source,
    })?;
    let store = connect(&config).await?;
    let (done, loaded) =
        match publish(&store, &draft, &args.file, &actor, args.note.as_deref()).await {
            Err(PublishError::Invalid { name, source }) => {
                return Err(CliError::Rules { path: name, source });
            }
            other => other?,
        };
    for w in &loaded.warnings {
        writeln!(err, "warning: {w}")?;
    }
    let rs = &loaded.ruleset;
    let what = match (done.changed, done.new_version) {
        (false, _) => format!(
            "ruleset {} is already the active version; nothing changed.",
            done.hash
        ),
        (true, true) => format!(
            "published ruleset {} ({} rules, {} pools, {} scripts) by {actor} at {}: active now.",
            done.hash,
            rs.rules().len(),
            rs.pools().count(),
            rs.scripts().len(),
            when(done.at)
        ),
        (true, false) => format!(
            "ruleset {} was published before: active again (by {actor} at {}).",
            done.hash,
            when(done.at)
        ),
    };
    writeln!(out, "{what}")?;
    if done.changed {
        if let Some(prev) = &done.previous {
            writeln!(
                out,
                "  previous version: {prev} (`leadrouter rules rollback {prev}` to go back)"
            )?;
        }
        writeln!(
            out,
            "  every daemon with rules.source: database routes by it within 2 seconds."
        )?;
    }
    if config.rules.source != RulesSource::Database {
        writeln!(
            err,
            "note: this configuration has rules.source: file, so daemons started with it read {}; set rules.source: database for them to route by the published rules.",
            config.rules.path.display()
        )?;
    }
    Ok(Outcome::Success)
}

async fn rollback_command(
    args: RollbackArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let done = rollback(&store, &args.hash, &actor, args.note.as_deref()).await?;
    if done.changed {
        writeln!(
            out,
            "ruleset {} is active again (by {actor} at {}); it replaced {}.",
            done.hash,
            when(done.at),
            done.previous.as_deref().unwrap_or("no version")
        )?;
    } else {
        writeln!(
            out,
            "ruleset {} already is the active version; nothing changed.",
            done.hash
        )?;
    }
    if config.rules.source != RulesSource::Database {
        writeln!(
            err,
            "note: this configuration has rules.source: file; daemons started with it are not affected."
        )?;
    }
    Ok(Outcome::Success)
}

async fn history(args: HistoryArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let versions = store.ruleset_history(i64::from(args.limit), None).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &versions).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    if versions.is_empty() {
        writeln!(
            out,
            "No rules published yet (`leadrouter rules publish FILE`)."
        )?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{:<16}  {:<6}  {:<23}  {:<12}  NOTE",
        "HASH", "ACTIVE", "PUBLISHED AT", "BY"
    )?;
    for v in &versions {
        writeln!(
            out,
            "{:<16}  {:<6}  {:<23}  {:<12}  {}",
            v.hash,
            if v.active { "yes" } else { "" },
            when(v.published_at),
            v.published_by,
            v.note.as_deref().unwrap_or("")
        )?;
    }
    Ok(Outcome::Success)
}

async fn show(args: ShowArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let version: Option<StoredRuleset> = match &args.hash {
        Some(h) => store.ruleset(h).await?,
        None => store.active_ruleset().await?,
    };
    let Some(v) = version else {
        return Err(CliError::Invalid(match &args.hash {
            Some(h) => {
                format!("no published version has hash {h:?} (see `leadrouter rules history`)")
            }
            None => "no rules published yet (`leadrouter rules publish FILE`)".to_owned(),
        }));
    };
    writeln!(
        out,
        "# ruleset {}{}, published by {} at {}{}",
        v.hash,
        if v.active { " (active)" } else { "" },
        v.published_by,
        when(v.published_at),
        v.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    )?;
    write!(out, "{}", v.yaml)?;
    if !v.yaml.ends_with('\n') {
        writeln!(out)?;
    }
    for (path, source) in &v.scripts {
        writeln!(out, "\n# --- script {path} ---")?;
        write!(out, "{source}")?;
        if !source.ends_with('\n') {
            writeln!(out)?;
        }
    }
    Ok(Outcome::Success)
}
