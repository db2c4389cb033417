//! A fresh daemon exports every metric from the start, at 0 (SPEC section 8): scraped
//! once, right after it is ready and before any lead, `/metrics` already holds every
//! name the alert rules, the dashboard and the Kubernetes kit use, the histogram
//! included, and the labelled counters for their known label values. Otherwise panels
//! show no data and `increase()` misses each series' first event.

use common::daemon::Env;
use leadrouter::lead::RejectReason;
use regex::Regex;
use std::collections::BTreeSet;
use std::path::Path;

/// Where the deployment kit names metrics.
const KIT_DIRS: &[&str] = &["deploy/prometheus", "deploy/grafana", "deploy/k8s"];

/// Series names a histogram is also exposed as.
const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

/// Every `leadrouter_*` token in the kit's files (queries, legends, descriptions),
/// with the file it came from.
fn kit_metric_names() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let re = Regex::new(r"\bleadrouter_[a-z0-9_]*[a-z0-9]").unwrap();
    let mut found = Vec::new();
    let mut dirs: Vec<_> = KIT_DIRS.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            // Binary files (none today) have no names to check.
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            for m in re.find_iter(&text) {
                found.push((m.as_str().to_owned(), rel.clone()));
            }
        }
    }
    found
}

/// The sample names in Prometheus text exposition (`name` or `name{labels}` → `name`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l[..l.find(['{', ' ']).unwrap_or(l.len())].to_owned())
        .collect()
}

/// Whether `name` is exported: as a sample, or as a histogram's family name.
fn exported(name: &str, samples: &BTreeSet<String>, text: &str) -> bool {
    if samples.contains(name) {
        return true;
    }
    let histogram = text.contains(&format!("# TYPE {name} histogram"));
    histogram
        && HISTOGRAM_SUFFIXES
            .iter()
            .all(|s| samples.contains(&format!("{name}{s}")))
}

/// The kit's name for a family: `x_bucket` → `x`.
fn family(name: &str) -> &str {
    HISTOGRAM_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[tokio::test]
async fn a_fresh_daemon_exports_every_metric_the_kit_uses_before_the_first_lead() {
    let kit = kit_metric_names();
    assert!(
        kit.len() > 20,
        "the kit should name its metrics in {KIT_DIRS:?}: {kit:?}"
    );

    // The sample rules: pools, queues, a script rule, an unconditional last rule.
    let mut env = Env::new(None).await;
    let mut d = env.spawn();
    d.wait_ready().await;
    let (status, text) = d.get("/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let samples = sample_names(&text);

    let missing: BTreeSet<String> = kit
        .iter()
        .filter(|(name, _)| {
            !exported(name, &samples, &text) && !exported(family(name), &samples, &text)
        })
        .map(|(name, file)| format!("{name} (used in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "a fresh daemon does not export:\n  {}\n/metrics:\n{text}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );

    // The labelled counters, at 0, for the label values known at start.
    let mut zero: Vec<String> = RejectReason::ALL
        .iter()
        .map(|r| {
            format!(
                "leadrouter_leads_rejected_total{{reason=\"{}\"}} 0",
                r.label()
            )
        })
        .collect();
    zero.extend(
        [
            r#"leadrouter_leads_decided_total{rule="(none)",status="unassigned"}"#,
            r#"leadrouter_leads_decided_total{rule="west-buyers",status="assigned"}"#,
            r#"leadrouter_leads_decided_total{rule="office-sf",status="queued"}"#,
            r#"leadrouter_leads_decided_total{rule="everyone-else",status="unassigned"}"#,
            r#"leadrouter_leads_decided_total{rule="custom",status="assigned"}"#,
            r#"leadrouter_leads_decided_total{rule="custom",status="queued"}"#,
            r#"leadrouter_leads_decided_total{rule="custom",status="unassigned"}"#,
            r#"leadrouter_rule_errors_total{rule="custom"}"#,
            r#"leadrouter_rule_errors_total{rule="luxury"}"#, // its when_script
            r#"leadrouter_rules_reloads_total{result="ok"}"#,
            r#"leadrouter_rules_reloads_total{result="error"}"#,
            "leadrouter_batches_total",
            "leadrouter_batch_retries_total",
            "leadrouter_leads_consumed_total",
            r#"leadrouter_decision_seconds_bucket{le="+Inf"}"#,
            "leadrouter_decision_seconds_count",
        ]
        .map(|s| format!("{s} 0")),
    );
    let lines: BTreeSet<&str> = text.lines().map(str::trim).collect();
    for want in &zero {
        assert!(lines.contains(want.as_str()), "no `{want}` in:\n{text}");
    }
    // A rule can only produce what its action decides: a queue rule never assigns.
    assert!(
        !text.contains(r#"leadrouter_leads_decided_total{rule="office-sf",status="assigned"}"#),
        "{text}"
    );
    // Only rules with scripts can err.
    assert!(
        !text.contains(r#"leadrouter_rule_errors_total{rule="west-buyers"}"#),
        "{text}"
    );

    d.kill();
    env.cleanup().await;
}

#[test]
fn the_scrape_reader_folds_a_histogram_into_its_family() {
    let text = "\
# TYPE leadrouter_decision_seconds histogram
leadrouter_decision_seconds_bucket{le=\"+Inf\"} 0
leadrouter_decision_seconds_sum 0
leadrouter_decision_seconds_count 0
# TYPE leadrouter_ready gauge
leadrouter_ready 1
";
    let samples = sample_names(text);
    assert!(exported("leadrouter_decision_seconds", &samples, text));
    assert!(exported("leadrouter_ready", &samples, text));
    assert!(!exported("leadrouter_batches_total", &samples, text));
    // A histogram missing one of its series is not exported.
    let partial = text.replace("leadrouter_decision_seconds_sum 0\n", "");
    assert!(!exported(
        "leadrouter_decision_seconds",
        &sample_names(&partial),
        &partial
    ));
    assert_eq!(
        family("leadrouter_decision_seconds_bucket"),
        "leadrouter_decision_seconds"
    );
}
