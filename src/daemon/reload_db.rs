//! Reload with `rules.source: database`: when another version of `rulesets` becomes
//! active (a publish or a rollback, on any host), load and validate it as `check` does;
//! good rules swap in between batches, a version that does not load is refused, logged
//! and counted (`leadrouter_rules_reloads_total{result="error"}`), and the last good
//! rules keep routing.
//!
//! Two triggers, so every instance follows within 2 seconds (SPEC 10): `LISTEN` on the
//! channel publish and rollback notify (milliseconds), and a check of the active hash
//! every second as the backstop (a lost connection, a notification missed while
//! reconnecting, a hand edit).
use super::RulesTx;
use crate::in_force::compile_stored;
use crate::store::{RULESETS_CHANNEL, Store};
use crate::telemetry;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The backstop: how often the active hash is read.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub async fn run(store: Store, rules: RulesTx, cancel: CancellationToken) {
    // The row the rules in force came from; a refused version is remembered too, so it
    // is reported once, not every second.
    let mut seen = rules.borrow().hash().to_owned();
    let mut listener = listen(&store).await;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
            n = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            } => {
                if let Err(e) = n {
                    // PgListener reconnects on the next recv; the tick covers the gap.
                    tracing::debug!(error = %e, "rulesets listener interrupted");
                }
            }
        }
        if listener.is_none() {
            listener = listen(&store).await;
        }
        let active = match store.active_ruleset_hash().await {
            Ok(Some(hash)) => hash,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the active ruleset; will retry");
                continue;
            }
        };
        if active == seen {
            continue;
        }
        if reload(&store, &active, &rules).await {
            seen = active;
        }
    }
}

async fn listen(store: &Store) -> Option<PgListener> {
    let connected = async {
        let mut l = PgListener::connect_with(store.pool()).await?;
        l.listen(RULESETS_CHANNEL).await?;
        Ok::<_, sqlx::Error>(l)
    };
    match connected.await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for published rules; checking every second");
            None
        }
    }
}

/// Loads version `hash` and swaps it in, or refuses it; false when it could not be
/// read (to be tried again).
async fn reload(store: &Store, hash: &str, rules: &RulesTx) -> bool {
    let current = rules.borrow().clone();
    let version = match store.ruleset(hash).await {
        Ok(Some(v)) => v,
        Ok(None) => return false, // gone in between: the next check sees what is active
        Err(e) => {
            tracing::warn!(error = %e, hash, "cannot read the published rules; will retry");
            return false;
        }
    };
    let compiled = tokio::task::spawn_blocking(move || compile_stored(version)).await;
    match compiled {
        Ok(Ok(in_force)) => {
            let new = in_force.loaded;
            tracing::info!(
                old = current.hash(),
                new = new.ruleset.hash(),
                "rules reloaded from the database"
            );
            for w in &new.warnings {
                tracing::warn!(warning = %w, "rules warning");
            }
            telemetry::rules_reloaded(true);
            telemetry::ruleset_in_force(&new.ruleset, Some(current.hash()));
            rules.send_replace(Arc::new(new.ruleset));
        }
        Ok(Err(e)) => {
            tracing::error!(version = hash, errors = %e, hash_in_force = current.hash(), "published rules refused; the last good rules keep routing");
            telemetry::rules_reloaded(false);
        }
        Err(e) => {
            tracing::error!(error = %e, version = hash, "rules reload failed");
            telemetry::rules_reloaded(false);
        }
    }
    true
}
