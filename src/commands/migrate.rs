//! `leadrouter migrate`: create the database if missing and apply the pending
//! migrations, then exit. `run` does the same at start; no other command writes the
//! schema.
use super::{CliError, Outcome, block_on};
use crate::config::Config;
use crate::store::Store;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Configuration file (as for `run`); without it the built-in defaults and the
    /// environment (`DATABASE_URL`, `LEADROUTER_SECTION__KEY`).
    #[arg(long, env = "LEADROUTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: MigrateArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let config = Config::load(args.config.as_deref())?;
    block_on(async {
        // One connection: migrations run on one anyway.
        let (store, applied) = Store::connect_and_migrate(config.database.url.expose(), 1).await?;
        store.close().await;
        let database = &config.database.url; // Display hides the password
        if applied.is_empty() {
            writeln!(out, "{database}: schema up to date, nothing to apply.")?;
        } else {
            for m in &applied {
                writeln!(out, "applied migration {m}")?;
            }
            writeln!(
                out,
                "{database}: schema up to date ({} migration{} applied).",
                applied.len(),
                if applied.len() == 1 { "" } else { "s" }
            )?;
        }
        Ok(Outcome::Success)
    })
}
