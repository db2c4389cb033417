//! The deployment kit (`deploy/`) checked against the daemon, so neither can drift:
//!
//! - every `leadrouter_*` metric that `deploy/prometheus/alerts.yml` and
//!   `deploy/grafana/leadrouter.json` use is one the daemon exports;
//! - the container config and the environment overrides the kit sets load cleanly.
//!
//! The exported metrics come from one list, [`EXPORTED`] (SPEC section 8 plus the
//! extras of `src/telemetry.rs`). [`scrape_running_daemon`] is the code that will read
//! them from a real `leadrouter run` instead, once the daemon lands.

use common::wait::poll_until;
use leadrouter::config::Config;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the daemon exports: SPEC section 8, then the extras the daemon adds
/// (`src/telemetry.rs`). The one list the kit is checked against.
const EXPORTED: &[(&str, Kind)] = &[
    // SPEC section 8
    ("leadrouter_leads_consumed_total", Kind::Counter),
    ("leadrouter_leads_decided_total", Kind::Counter),
    ("leadrouter_leads_rejected_total", Kind::Counter),
    ("leadrouter_leads_duplicate_total", Kind::Counter),
    ("leadrouter_leads_unmatched_total", Kind::Counter),
    ("leadrouter_rule_errors_total", Kind::Counter),
    ("leadrouter_decision_seconds", Kind::Histogram),
    ("leadrouter_unassigned_leads", Kind::Gauge),
    ("leadrouter_unassigned_alerts_total", Kind::Counter),
    ("leadrouter_rules_reloads_total", Kind::Counter),
    ("leadrouter_ruleset_info", Kind::Gauge),
    ("leadrouter_broker_up", Kind::Gauge),
    ("leadrouter_database_up", Kind::Gauge),
    ("leadrouter_ready", Kind::Gauge),
    ("leadrouter_outbox_pending", Kind::Gauge),
    // Extras (src/telemetry.rs)
    ("leadrouter_events_published_total", Kind::Counter),
    ("leadrouter_batches_total", Kind::Counter),
    ("leadrouter_batch_retries_total", Kind::Counter),
];

/// Series a histogram is exposed as, besides its family name.
const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every token that looks like a leadrouter metric name, anywhere in the text
/// (queries, legends, descriptions): a name in prose must be real too.
fn metric_tokens(text: &str) -> BTreeSet<String> {
    let re = Regex::new(r"\bleadrouter_[a-z0-9_]*[a-z0-9]").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

/// The exported family a series name belongs to (`x_bucket` → `x` for histograms).
fn family(name: &str) -> Option<&'static str> {
    if let Some((n, _)) = EXPORTED.iter().find(|(n, _)| *n == name) {
        return Some(n);
    }
    HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        EXPORTED
            .iter()
            .find(|(n, k)| *n == base && *k == Kind::Histogram)
            .map(|(n, _)| *n)
    })
}

const KIT_FILES: &[&str] = &[
    "deploy/prometheus/alerts.yml",
    "deploy/grafana/leadrouter.json",
];

#[test]
fn alerts_and_dashboard_use_only_exported_metrics() {
    for file in KIT_FILES {
        let names = metric_tokens(&read(file));
        assert!(!names.is_empty(), "{file} references no leadrouter metric");
        let unknown: Vec<_> = names.iter().filter(|n| family(n).is_none()).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the daemon does not export: {unknown:?}\n\
             exported: {:?}",
            EXPORTED.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
    }
}

/// The list above is checked against a real daemon: everything it names is scraped
/// from `leadrouter run`'s `/metrics`, and so is every metric the alerts and the
/// dashboard use.
#[test]
fn a_running_daemon_exports_every_metric_the_kit_uses() {
    let scraped = scrape_running_daemon();
    for (name, _) in EXPORTED {
        assert!(
            scraped.contains(*name),
            "the running daemon does not export {name}"
        );
    }
    for file in KIT_FILES {
        for n in metric_tokens(&read(file)) {
            let fam = family(&n).unwrap_or(n.as_str()).to_owned();
            assert!(
                scraped.contains(&fam),
                "{file} uses {n}, which the running daemon does not export"
            );
        }
    }
}

#[test]
fn dashboard_shows_every_exported_metric() {
    let shown: BTreeSet<_> = metric_tokens(&read("deploy/grafana/leadrouter.json"))
        .iter()
        .filter_map(|n| family(n))
        .collect();
    let missing: Vec<_> = EXPORTED
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !shown.contains(n))
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}

#[test]
fn alerts_watch_the_failure_signals() {
    let used: BTreeSet<_> = metric_tokens(&read("deploy/prometheus/alerts.yml"))
        .iter()
        .filter_map(|n| family(n))
        .collect();
    for needed in [
        "leadrouter_ready",
        "leadrouter_broker_up",
        "leadrouter_database_up",
        "leadrouter_unassigned_alerts_total",
        "leadrouter_unassigned_leads",
        "leadrouter_rule_errors_total",
        "leadrouter_leads_rejected_total",
        "leadrouter_decision_seconds",
        "leadrouter_outbox_pending",
        "leadrouter_rules_reloads_total",
    ] {
        assert!(used.contains(needed), "no alert watches {needed}");
    }
}

/// The list agrees with the metric names the source registers (in metric macros), so
/// a metric added or renamed in the code shows up here even without a fault to trigger it.
/// `src/api/` is `leadrouter serve`'s, which exports its own metric, not the daemon's
/// (docs/reference/metrics.md lists it; tests/api.rs checks it).
#[test]
fn exported_list_matches_the_metric_names_in_the_source() {
    let re = Regex::new(r#"(?:counter|gauge|histogram)!\(\s*"(leadrouter_[a-z0-9_]+)""#).unwrap();
    let mut in_source = BTreeSet::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != root().join("src/api") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                in_source.extend(re.captures_iter(&text).map(|c| c[1].to_owned()));
            }
        }
    }
    let listed: BTreeSet<String> = EXPORTED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        in_source, listed,
        "metric names in src/ (left) differ from EXPORTED (right)"
    );
}

// ------------------------------------------------------------------ configuration

#[test]
fn container_config_loads() {
    let path = root().join("deploy/leadrouter.yaml");
    let no_env: [(&str, &str); 0] = [];
    let c = Config::load_with_env(Some(&path), no_env).expect("deploy/leadrouter.yaml is valid");
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:9464");
    assert_eq!(c.rules.path, root().join("deploy/rules/routing.yaml"));
    assert_eq!(
        c.amqp,
        Config::default().amqp,
        "the container keeps the defaults"
    );
}

/// The `LEADROUTER_*` variables the kit sets (compose, Kubernetes, Dockerfile) are all
/// real keys with valid values: the loader refuses unknown keys.
#[test]
fn environment_overrides_in_the_kit_are_valid() {
    let mut sets: Vec<(String, Vec<(String, String)>)> = Vec::new();

    let compose: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/docker-compose.yml")).unwrap();
    let env = compose["services"]["leadrouter"]["environment"]
        .as_mapping()
        .expect("compose: leadrouter.environment is a map");
    sets.push((
        "deploy/docker-compose.yml".into(),
        env.iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_owned(),
                    v.as_str().unwrap().to_owned(),
                )
            })
            .filter(|(k, _)| k.starts_with("LEADROUTER_"))
            .collect(),
    ));

    let kustomization: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/k8s/kustomization.yaml")).unwrap();
    let literals = kustomization["configMapGenerator"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "leadrouter-env")
        .expect("kustomization: leadrouter-env generator")["literals"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| {
            let (k, v) = l.as_str().unwrap().split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    sets.push(("deploy/k8s/kustomization.yaml".into(), literals));

    let re = Regex::new(r"(LEADROUTER_[A-Z_]+)=(\S+)").unwrap();
    let dockerfile = read("deploy/Dockerfile");
    sets.push((
        "deploy/Dockerfile".into(),
        re.captures_iter(&dockerfile)
            .map(|c| (c[1].to_owned(), c[2].to_owned()))
            .collect(),
    ));

    for (file, vars) in sets {
        assert!(!vars.is_empty(), "{file}: no LEADROUTER_ variables found");
        let c = Config::load_with_env(None, vars.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            c.http.listen.to_string(),
            "0.0.0.0:9464",
            "{file}: containers must listen on 0.0.0.0:9464"
        );
    }
}

// ------------------------------------------------------------------ the real daemon

/// Metric family names in Prometheus text exposition (`# TYPE` lines and samples;
/// histogram series folded into their family).
fn parse_exposition(text: &str) -> BTreeSet<String> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_owned(), kind.to_owned());
            }
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_owned());
        }
    }
    let mut families: BTreeSet<String> = types.keys().cloned().collect();
    for s in samples {
        let base = HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let base = s.strip_suffix(suffix)?;
            matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            )
            .then(|| base.to_owned())
        });
        families.insert(base.unwrap_or(s));
    }
    families
}

#[test]
fn exposition_parser_reads_families() {
    let text = "\
# HELP leadrouter_decision_seconds Consume to ack, per lead
# TYPE leadrouter_decision_seconds histogram
leadrouter_decision_seconds_bucket{le=\"0.005\"} 3
leadrouter_decision_seconds_bucket{le=\"+Inf\"} 4
leadrouter_decision_seconds_sum 0.0123
leadrouter_decision_seconds_count 4

# TYPE leadrouter_leads_decided_total counter
leadrouter_leads_decided_total{rule=\"(none)\",status=\"unassigned\"} 1
leadrouter_ready 1
";
    let families = parse_exposition(text);
    assert_eq!(
        families.into_iter().collect::<Vec<_>>(),
        [
            "leadrouter_decision_seconds",
            "leadrouter_leads_decided_total",
            "leadrouter_ready"
        ]
    );
}

/// The daemon's own exporter and HTTP endpoints, in process (a stand-in for
/// [`scrape_running_daemon`] until the daemon lands): after one event of each kind,
/// `/metrics` renders exactly the families in [`EXPORTED`].
#[test]
fn the_exporter_renders_exactly_the_exported_families() {
    use leadrouter::telemetry;
    let handle = telemetry::install_metrics().expect("install the recorder");
    let readiness = leadrouter::http::Readiness::new();
    readiness.set_broker(true);
    readiness.set_database(true);

    telemetry::leads_consumed(2);
    telemetry::lead_rejected("invalid_json", "expected value at line 1");
    telemetry::lead_duplicate("deploy-0");
    // A rule whose script fails at run time (division by zero), then no rule decides.
    let rs = common::engine::rules(
        "rules:\n  - name: boom\n    when_script: 'lead.id.len() / (lead.id.len() - 1) > 0'\n    assign: unassigned\n",
    );
    let d = common::engine::route(&rs, serde_json::json!({"id": "t"}));
    assert_eq!(d.rule_errors().count(), 1, "{d:?}");
    telemetry::lead_decided("t", &d, "0123456789abcdef");
    telemetry::decision_latency(Duration::from_millis(3));
    telemetry::batch_committed(1, 0, Duration::from_millis(2));
    telemetry::batch_retry(&"connection reset", 1, Duration::from_millis(10));
    telemetry::events_published(1);
    telemetry::ruleset_in_force(&rs, None);
    telemetry::rules_reloaded(true);
    telemetry::unassigned_leads(1);
    telemetry::outbox_pending(0);

    // Served the way the daemon serves it, read the way the scrape helper reads it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(leadrouter::http::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let cancel = tokio_util::sync::CancellationToken::new();
    let app = leadrouter::http::router(handle, readiness);
    let server = rt.spawn(leadrouter::http::serve(listener, app, cancel.clone()));

    let (status, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let families = parse_exposition(&body);
    let exported: BTreeSet<String> = EXPORTED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        families, exported,
        "rendered families (left) differ from EXPORTED (right):\n{body}"
    );
    for (name, kind) in EXPORTED {
        let declared = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert!(
            body.contains(&format!("# TYPE {name} {declared}")),
            "{name} should be a {declared}:\n{body}"
        );
    }
    assert!(matches!(http_get(port, "/healthz"), Ok((200, _))));
    // Rules not loaded, not consuming: not ready.
    assert!(matches!(http_get(port, "/readyz"), Ok((503, _))));

    cancel.cancel();
    rt.block_on(server).unwrap().unwrap();
}

/// GET on loopback with a plain HTTP/1.1 request; (status, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts the real daemon (`leadrouter run`) on a fresh database and fresh queue
/// names, makes it produce every metric it can (a routed lead, a rejected message, a
/// rule error, a SIGHUP reload), scrapes `/metrics`, then stops it with SIGTERM and
/// checks it exits 0 within 10 s (SPEC section 5). Returns the metric families seen.
///
/// Needs the PostgreSQL and RabbitMQ the other integration tests use. (The families a
/// fresh daemon exports before any event are checked by `tests/metrics_start.rs`.)
///
/// Starts the real daemon and returns the metric families its `/metrics` serves.
fn scrape_running_daemon() -> BTreeSet<String> {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let db = common::db::TestDb::unique(); // the daemon creates it; dropped on Drop
    let fx = rt.block_on(common::amqp::Fixture::new()); // fresh names; deleted on Drop
    let dir = tempfile::tempdir().expect("temp dir");

    // Rules with one rule that always errors, so rule_errors_total appears.
    std::fs::write(
        dir.path().join("routing.yaml"),
        "rules:\n  - name: boom\n    script: boom.rhai\n  - name: everyone-else\n    assign: unassigned\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("boom.rhai"), "throw \"boom\";\n").unwrap();
    let port = free_port();
    let config = dir.path().join("leadrouter.yaml");
    std::fs::write(
        &config,
        format!(
            "amqp:\n  queue: {}\n  dead_letter_queue: {}\n  events_exchange: {}\n\
             rules:\n  path: routing.yaml\n  watch: true\n\
             http:\n  listen: 127.0.0.1:{port}\n\
             alerts:\n  sweep_every: 1s\n",
            fx.names.inbound, fx.names.dead_letter, fx.names.events_exchange
        ),
    )
    .unwrap();
    let log_path: PathBuf = dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadrouter"));
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .env("AMQP_URL", common::amqp::url())
        .env("DATABASE_URL", &db.url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // Only the file above configures it.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LEADROUTER_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().expect("start leadrouter run");
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Ready: connected to broker and database, rules loaded, consuming.
    let ready = rt.block_on(poll_until(
        Duration::from_secs(30),
        async || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("leadrouter run exited early ({status}):\n{}", log_text());
            }
            http_get(port, "/readyz").ok()
        },
        |r| matches!(r, Some((200, _))),
    ));
    if ready.is_err() {
        let _ = child.kill();
        panic!("leadrouter run not ready within 30 s:\n{}", log_text());
    }
    assert!(matches!(http_get(port, "/healthz"), Ok((200, _))));

    // One good lead (decided via a rule error), one malformed message, one reload.
    let persistent = lapin::BasicProperties::default().with_delivery_mode(2);
    rt.block_on(fx.publish(
        &fx.names.inbound,
        br#"{"id":"deploy-metrics-1","source":"web_form"}"#,
        persistent.clone(),
    ));
    rt.block_on(fx.publish(&fx.names.inbound, b"not json", persistent));
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());

    // Everything the daemon exports should show up now.
    let wanted: Vec<&str> = EXPORTED.iter().map(|(n, _)| *n).collect();
    // After 15 s, the families seen then: the caller's assertions name what is missing.
    let families = rt
        .block_on(poll_until(
            Duration::from_secs(15),
            async || {
                let (status, body) = http_get(port, "/metrics").expect("GET /metrics");
                assert_eq!(status, 200, "/metrics answered {status}");
                parse_exposition(&body)
            },
            |families| wanted.iter().all(|w| families.contains(*w)),
        ))
        .unwrap_or_else(|last| last);

    // SIGTERM: drain and exit 0 within 10 s.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = rt
        .block_on(poll_until(
            Duration::from_secs(10),
            async || child.try_wait().expect("try_wait"),
            Option::is_some,
        ))
        .unwrap_or_else(|none| none);
    if status.is_none() {
        let _ = child.kill();
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "leadrouter run must exit 0 within 10 s of SIGTERM:\n{}",
        log_text()
    );

    rt.block_on(fx.cleanup());
    rt.block_on(db.cleanup());
    families
}
