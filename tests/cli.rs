//! The real `leadrouter` binary: `check` and `simulate` on the samples and on broken input.
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn leadrouter(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadrouter"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_accepts_the_sample_rules() {
    let out = leadrouter(&["check", "rules/routing.yaml"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("OK: 7 rules, 3 pools, 2 regions"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_rejects_a_broken_file_naming_file_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, "pools:\n  p: {members: [a]}\nrules:\n  - name: first\n    when: {price: {gt: cheap}}\n    assign: {pool: nope}\n").unwrap();
    let out = leadrouter(&["check", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5: rule \"first\": `price`: `gt` takes a number",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:6: rule \"first\": unknown pool `nope`",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("invalid (2 errors)"), "{err}");
}

#[test]
fn check_warns_but_passes_on_unreachable_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.yaml");
    std::fs::write(&path, "rules:\n  - {name: all, assign: unassigned}\n  - {name: never, when: {a: 1}, assign: unassigned}\n").unwrap();
    let out = leadrouter(&["check", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("warning:")
            && text(&out.stderr).contains("\"never\": can never decide"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_on_a_missing_file_is_invalid_input() {
    let out = leadrouter(&["check", "no/such/rules.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read rules file"));
}

#[test]
fn simulate_prints_one_line_per_sample_lead_in_order() {
    let out = leadrouter(
        &[
            "simulate",
            "--rules",
            "rules/routing.yaml",
            "rules/samples/leads.jsonl",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let input: Vec<Value> = include_str!("../rules/samples/leads.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), input.len());
    for (l, i) in lines.iter().zip(&input) {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        // SPEC 4's line: `offered_to` null until pools make offers.
        let mut want = vec![
            "assignees",
            "lead_id",
            "offered_to",
            "owner_id",
            "pool",
            "queue",
            "rule",
            "status",
            "trace",
        ];
        let mut got = keys.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(l["lead_id"], i["id"]);
        assert!(
            l["trace"]["rules"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );
    }
    // Spot checks of the sample rules.
    let by_id = |id: &str| lines.iter().find(|l| l["lead_id"] == id).unwrap().clone();
    assert_eq!(by_id("lead-0001")["owner_id"], "alice");
    assert_eq!(by_id("lead-0005")["pool"], "luxury");
    assert_eq!(by_id("lead-0016")["queue"], "office-sf");
    assert_eq!(by_id("lead-0026")["rule"], "everyone-else");
    let west: Vec<&str> = lines
        .iter()
        .filter(|l| l["pool"] == "west-agents")
        .map(|l| l["owner_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        &west[..6],
        ["alice", "bob", "carol", "alice", "bob", "carol"],
        "strict rotation"
    );
}

#[test]
fn simulate_skips_halted_agents() {
    let out = leadrouter(
        &[
            "simulate",
            "--halted",
            "alice,bob",
            "rules/samples/leads.jsonl",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    for line in text(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if !v["pool"].is_null() {
            assert!(v["owner_id"] != "alice" && v["owner_id"] != "bob", "{line}");
        }
    }
    let first: Value = serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["lead_id"], "lead-0001");
    assert_ne!(
        first["rule"], "direct-to-agent",
        "alice is halted and the rule says continue"
    );
}

#[test]
fn simulate_reports_bad_lines_and_routes_the_rest() {
    let input = "{\"id\":\"a\",\"source\":\"web_form\"}\nnot json\n\n{\"id\":\"\"}\n{\"id\":\"b\",\"agent_id\":7}\n{\"id\":\"a\"}\n{\"id\":\"c\"}\n";
    let out = leadrouter(&["simulate"], Some(input));
    assert_eq!(out.status.code(), Some(2), "bad lines make the exit code 2");
    let err = text(&out.stderr);
    assert!(err.contains("line 2: rejected: invalid_json"), "{err}");
    assert!(err.contains("line 4: rejected: invalid_id"), "{err}");
    assert!(err.contains("line 5: rejected: wrong_field_type"), "{err}");
    assert!(
        err.contains("line 6: lead \"a\" already routed at line 1"),
        "{err}"
    );
    let ids: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["lead_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["a", "c"]);
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["simulate", "--help"],
    ] {
        let out = leadrouter(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn unknown_arguments_are_usage_errors() {
    let out = leadrouter(&["simulate", "--bogus"], None);
    assert_eq!(out.status.code(), Some(2));
}
