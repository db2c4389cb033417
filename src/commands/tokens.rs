//! `leadrouter tokens add|list|revoke`: the admin API's tokens (SPEC 9).
use super::admin::{ActorArgs, DbArgs, RESERVED_ACTORS, connect, load_config, when};
use super::{CliError, Outcome, block_on};
use crate::store::{Role, TokenError};
use clap::builder::NonEmptyStringValueParser;
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it, once: only its SHA-256 is stored. The name is the
    /// actor of the changes made with it (for `--role agent`, the agent's id).
    Add(AddArgs),
    /// Every token: name, role, created, revoked (never the token or its hash).
    List(ListArgs),
    /// Revoke a token: requests with it get 401 from now on.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Who the token is for (an agent token: the agent's id).
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,
    /// admin: everything; agent: its own leads and changes for itself; viewer: reads.
    #[arg(long, value_name = "ROLE", value_parser = ["admin", "agent", "viewer"])]
    pub role: String,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token's name.
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,
    #[command(flatten)]
    pub db: DbArgs,
}

/// The longest token name (an agent id, a person, a CRM integration).
const MAX_NAME: usize = 128;

/// Refuses names that could not be an actor: reserved ones, blanks, control characters.
pub fn check_name(name: &str) -> Result<(), CliError> {
    if RESERVED_ACTORS.contains(&name) {
        return Err(CliError::Invalid(format!(
            "{name:?} is reserved for the daemon's own decisions; give the token another name"
        )));
    }
    if name.chars().count() > MAX_NAME || name.trim() != name || name.chars().any(char::is_control)
    {
        return Err(CliError::Invalid(format!(
            "token name {name:?}: at most {MAX_NAME} characters, no control characters or surrounding spaces"
        )));
    }
    Ok(())
}

pub fn run(
    cmd: TokensCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    block_on(async {
        match cmd {
            TokensCommand::Add(a) => add(a, out, err).await,
            TokensCommand::List(a) => list(a, out).await,
            TokensCommand::Revoke(a) => revoke(a, out).await,
        }
    })
}

async fn add(
    args: AddArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    check_name(&args.name)?;
    let role = Role::parse(&args.role)
        .ok_or_else(|| CliError::Invalid(format!("unknown role {:?}", args.role)))?;
    let actor = args.actor.resolve()?;
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let token = match store.add_token(&args.name, role, &actor).await {
        Ok(t) => t,
        Err(TokenError::Exists(name)) => {
            return Err(CliError::Invalid(TokenError::Exists(name).to_string()));
        }
        Err(TokenError::Store(e)) => return Err(e.into()),
    };
    // The token alone on stdout (for `TOKEN=$(leadrouter tokens add ...)`); the rest on stderr.
    writeln!(out, "{token}")?;
    writeln!(
        err,
        "token {:?} ({}) created: shown this once, only its hash is kept. Send it as `Authorization: Bearer TOKEN`.",
        args.name,
        role.as_str()
    )?;
    Ok(Outcome::Success)
}

async fn list(args: ListArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    let tokens = store.list_tokens().await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &tokens).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    if tokens.is_empty() {
        writeln!(
            out,
            "No tokens (`leadrouter tokens add NAME --role admin`)."
        )?;
        return Ok(Outcome::Success);
    }
    let width = tokens
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:<6}  {:<23}  {:<12}  REVOKED AT",
        "NAME", "ROLE", "CREATED AT", "CREATED BY"
    )?;
    for t in &tokens {
        writeln!(
            out,
            "{:<width$}  {:<6}  {:<23}  {:<12}  {}",
            t.name,
            t.role.as_str(),
            when(t.created_at),
            t.created_by,
            t.revoked_at.map_or_else(|| "-".to_owned(), when)
        )?;
    }
    Ok(Outcome::Success)
}

async fn revoke(args: RevokeArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = load_config(&args.db)?;
    let store = connect(&config).await?;
    match store.revoke_token(&args.name).await? {
        None => Err(CliError::Invalid(format!("no token named {:?}", args.name))),
        Some(t) => {
            let at = t.revoked_at.map_or_else(|| "-".to_owned(), when);
            writeln!(
                out,
                "token {:?} revoked ({at}): its requests get 401 from now on.",
                t.name
            )?;
            Ok(Outcome::Success)
        }
    }
}
