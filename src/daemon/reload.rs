//! Hot reload: on SIGHUP, and on changes to the rules file or its scripts (debounced),
//! the rules are loaded and validated as `check` does. Good rules swap in atomically
//! between batches; bad ones are refused, logged and counted, and the last good rules
//! keep routing.
use super::RulesTx;
use crate::rules::Ruleset;
use crate::telemetry;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Editors and Kubernetes ConfigMap updates touch several files in a burst.
const DEBOUNCE: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trigger {
    Signal,
    FileChange,
}

pub async fn run(path: PathBuf, watch: bool, rules: RulesTx, cancel: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Trigger>();
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    let mut watcher = None;
    if watch {
        watcher = start_watcher(rules.borrow().source_files(), tx.clone());
    }
    loop {
        // The watcher lives as long as this loop; it is replaced on reload.
        let _watching = watcher.is_some();
        let trigger = tokio::select! {
            _ = cancel.cancelled() => return,
            Some(()) = async { match hup.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => Trigger::Signal,
            Some(t) = rx.recv() => t,
        };
        let trigger = if trigger == Trigger::FileChange {
            // Let the burst settle; a signal during it still counts as a signal.
            tokio::time::sleep(DEBOUNCE).await;
            let mut t = trigger;
            while let Ok(more) = rx.try_recv() {
                if more == Trigger::Signal {
                    t = Trigger::Signal;
                }
            }
            t
        } else {
            trigger
        };
        let p = path.clone();
        let loaded = tokio::task::spawn_blocking(move || Ruleset::load(&p)).await;
        let current = rules.borrow().clone();
        match loaded {
            Ok(Ok(new)) => {
                let unchanged = new.ruleset.hash() == current.hash();
                if unchanged && trigger == Trigger::FileChange {
                    tracing::debug!("rules files touched but unchanged");
                    continue;
                }
                tracing::info!(
                    old = current.hash(),
                    new = new.ruleset.hash(),
                    ?trigger,
                    "rules reloaded"
                );
                for w in &new.warnings {
                    tracing::warn!(warning = %w, "rules warning");
                }
                telemetry::rules_reloaded(true);
                telemetry::ruleset_in_force(&new.ruleset, Some(current.hash()));
                let files = new.ruleset.source_files().to_vec();
                rules.send_replace(Arc::new(new.ruleset));
                if watch {
                    // Scripts may have been added or renamed: watch what the new rules read.
                    watcher = start_watcher(&files, tx.clone());
                }
            }
            Ok(Err(e)) => {
                tracing::error!(errors = %e, hash_in_force = current.hash(), "rules reload refused; the last good rules keep routing");
                telemetry::rules_reloaded(false);
            }
            Err(e) => {
                tracing::error!(error = %e, "rules reload failed");
                telemetry::rules_reloaded(false);
            }
        }
    }
}

/// Watches the directories holding the rules and scripts (not the files: editors
/// replace files, and Kubernetes swaps a `..data` symlink beside them).
fn start_watcher(
    files: &[PathBuf],
    tx: mpsc::UnboundedSender<Trigger>,
) -> Option<notify::RecommendedWatcher> {
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| {
            f.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        })
        .collect();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !ev.kind.is_access()
        {
            let _ = tx.send(Trigger::FileChange);
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules files; reload with SIGHUP");
            return None;
        }
    };
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, dir = %d.display(), "cannot watch a rules directory; reload with SIGHUP");
        }
    }
    Some(watcher)
}
