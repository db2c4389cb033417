//! Logs and metrics. Each observable event is one function here that logs and counts
//! in one place, so a log line and its metric never drift apart.
use crate::lead::RejectReason;
use crate::routing::LeadStatus;
use crate::rules::{Action, Ruleset};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;
use tracing_subscriber::{EnvFilter, fmt};

/// The `rule` label of decisions no rule made (unassigned).
const UNMATCHED_RULE: &str = "(none)";

/// Logs to stderr, `text` or `json`; `RUST_LOG` overrides `level` when set.
pub fn init_logging(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Installs the Prometheus recorder (once per process) and describes every metric.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("leadrouter_decision_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ],
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

fn describe() {
    describe_counter!(
        "leadrouter_leads_consumed_total",
        "Inbound messages taken from the queue"
    );
    describe_counter!(
        "leadrouter_leads_decided_total",
        "Leads decided by the router, by rule and status"
    );
    describe_counter!(
        "leadrouter_leads_rejected_total",
        "Malformed messages dead-lettered, by reason"
    );
    describe_counter!(
        "leadrouter_leads_duplicate_total",
        "Messages for a lead already decided (acked, no decision)"
    );
    describe_counter!(
        "leadrouter_leads_unmatched_total",
        "Leads no rule decided (unassigned, rule null)"
    );
    describe_counter!(
        "leadrouter_rule_errors_total",
        "Script errors and sandbox bounds hit, by rule"
    );
    describe_histogram!(
        "leadrouter_decision_seconds",
        metrics::Unit::Seconds,
        "Consume to ack, per lead"
    );
    describe_gauge!(
        "leadrouter_unassigned_leads",
        "Leads without an owner now (queued or unassigned)"
    );
    describe_counter!(
        "leadrouter_unassigned_alerts_total",
        "Alerts raised for leads ownerless too long"
    );
    describe_counter!("leadrouter_rules_reloads_total", "Rules reloads, by result");
    describe_gauge!(
        "leadrouter_ruleset_info",
        "The ruleset in force (hash label), always 1"
    );
    describe_gauge!("leadrouter_broker_up", "1 while connected to RabbitMQ");
    describe_gauge!("leadrouter_database_up", "1 while PostgreSQL answers");
    describe_gauge!("leadrouter_ready", "1 while /readyz is 200");
    describe_gauge!(
        "leadrouter_outbox_pending",
        "Events written but not yet relayed"
    );
    describe_counter!(
        "leadrouter_events_published_total",
        "Events confirmed by the broker"
    );
    describe_counter!("leadrouter_batches_total", "Batches committed");
    describe_counter!(
        "leadrouter_batch_retries_total",
        "Batch commits retried after a database error"
    );
    start_at_zero();
}

/// Every series whose labels are known without the rules, at 0, so dashboards and
/// alerts see each metric before its first event (SPEC section 8) and `increase()`
/// counts that first event. `increment(0)` registers a series without touching its
/// value.
fn start_at_zero() {
    counter!("leadrouter_leads_consumed_total").increment(0);
    counter!("leadrouter_leads_duplicate_total").increment(0);
    counter!("leadrouter_leads_unmatched_total").increment(0);
    counter!("leadrouter_unassigned_alerts_total").increment(0);
    counter!("leadrouter_events_published_total").increment(0);
    counter!("leadrouter_batches_total").increment(0);
    counter!("leadrouter_batch_retries_total").increment(0);
    for reason in RejectReason::ALL {
        counter!("leadrouter_leads_rejected_total", "reason" => reason.label()).increment(0);
    }
    for result in ["ok", "error"] {
        counter!("leadrouter_rules_reloads_total", "result" => result).increment(0);
    }
    // A registered histogram renders with every bucket at 0, and _sum and _count, before
    // its first sample: the exporter builds the (empty) distribution of every histogram
    // handle when it renders, so registering it is enough.
    let _registered = histogram!("leadrouter_decision_seconds");
    gauge!("leadrouter_outbox_pending").set(0.0);
    gauge!("leadrouter_unassigned_leads").set(0.0);
    gauge!("leadrouter_broker_up").set(0.0);
    gauge!("leadrouter_database_up").set(0.0);
    gauge!("leadrouter_ready").set(0.0);
}

/// The series of the rules in force, at 0 (or as they are, after a reload): a decision
/// per rule and each status that rule can produce, the unmatched `(none)`, and the
/// errors of every rule that runs a script.
fn rules_at_zero(rules: &Ruleset) {
    for rule in rules.rules() {
        for status in statuses(&rule.action) {
            counter!("leadrouter_leads_decided_total", "rule" => rule.name.to_string(), "status" => status.as_str())
                .increment(0);
        }
        if rule.when_script.is_some() || matches!(rule.action, Action::Script(_)) {
            counter!("leadrouter_rule_errors_total", "rule" => rule.name.to_string()).increment(0);
        }
    }
    counter!("leadrouter_leads_decided_total", "rule" => UNMATCHED_RULE, "status" => LeadStatus::Unassigned.as_str())
        .increment(0);
}

/// The statuses a rule's action can decide (`routing::decide`).
fn statuses(action: &Action) -> &'static [LeadStatus] {
    match action {
        Action::AgentFrom(_) | Action::Agent(_) | Action::Pool(_) | Action::OwnerOfContact(_) => {
            &[LeadStatus::Assigned]
        }
        Action::Queue(_) => &[LeadStatus::Queued],
        Action::Unassigned => &[LeadStatus::Unassigned],
        Action::Script(_) => &[
            LeadStatus::Assigned,
            LeadStatus::Queued,
            LeadStatus::Unassigned,
        ],
    }
}

pub fn leads_consumed(n: usize) {
    counter!("leadrouter_leads_consumed_total").increment(n as u64);
}

pub fn lead_rejected(reason: &'static str, detail: &str) {
    tracing::warn!(reason, %detail, "lead rejected: dead-lettered");
    counter!("leadrouter_leads_rejected_total", "reason" => reason).increment(1);
}

pub fn lead_duplicate(lead_id: &str) {
    tracing::debug!(lead_id, "duplicate lead: acknowledged without a decision");
    counter!("leadrouter_leads_duplicate_total").increment(1);
}

pub fn lead_decided(lead_id: &str, d: &crate::routing::RoutingDecision, ruleset: &str) {
    let rule = d.rule.clone().unwrap_or_else(|| UNMATCHED_RULE.to_owned());
    tracing::debug!(lead_id, status = d.status.as_str(), owner = d.owner_id.as_deref(), queue = d.queue.as_deref(), pool = d.pool.as_deref(), rule = %rule, ruleset, "lead decided");
    if d.is_unmatched() {
        counter!("leadrouter_leads_unmatched_total").increment(1);
    }
    for e in d.rule_errors() {
        tracing::warn!(
            lead_id,
            rule = &*e.rule,
            error = &*e.reason,
            "rule error: the next rule was tried"
        );
        counter!("leadrouter_rule_errors_total", "rule" => e.rule.to_string()).increment(1);
    }
    counter!("leadrouter_leads_decided_total", "rule" => rule, "status" => d.status.as_str())
        .increment(1);
}

pub fn decision_latency(elapsed: Duration) {
    histogram!("leadrouter_decision_seconds").record(elapsed.as_secs_f64());
}

pub fn batch_committed(decided: usize, duplicates: usize, took: Duration) {
    tracing::debug!(
        decided,
        duplicates,
        took_ms = took.as_millis() as u64,
        "batch committed"
    );
    counter!("leadrouter_batches_total").increment(1);
}

pub fn batch_retry(error: &dyn std::fmt::Display, attempt: u32, wait: Duration) {
    tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "batch not committed; will retry (nothing acked)");
    counter!("leadrouter_batch_retries_total").increment(1);
}

pub fn events_published(n: usize) {
    counter!("leadrouter_events_published_total").increment(n as u64);
}

/// The rules now in force (at start, and after each reload that changed them): the
/// `hash` gauge, and their series at 0.
pub fn ruleset_in_force(rules: &Ruleset, old_hash: Option<&str>) {
    if let Some(old) = old_hash {
        gauge!("leadrouter_ruleset_info", "hash" => old.to_owned()).set(0.0);
    }
    gauge!("leadrouter_ruleset_info", "hash" => rules.hash().to_owned()).set(1.0);
    rules_at_zero(rules);
}

pub fn rules_reloaded(ok: bool) {
    counter!("leadrouter_rules_reloads_total", "result" => if ok { "ok" } else { "error" })
        .increment(1);
}

pub fn unassigned_leads(n: i64) {
    gauge!("leadrouter_unassigned_leads").set(n as f64);
}

pub fn outbox_pending(n: i64) {
    gauge!("leadrouter_outbox_pending").set(n as f64);
}

pub fn unassigned_alert(lead_id: &str, unassigned_since: &str) {
    tracing::warn!(
        lead_id,
        unassigned_since,
        "lead without an owner too long: alert raised"
    );
    counter!("leadrouter_unassigned_alerts_total").increment(1);
}
