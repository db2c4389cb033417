//! The admin API (`leadrouter serve`, SPEC 9) as a real process against a real
//! database: every endpoint with every role (allowed and forbidden), bad input on each,
//! tokens (none, unknown, revoked), the console's headers, the OpenAPI document and the
//! request metrics.
use common::admin::{RULES_A, ago, cli, expect_code, lead_at, seed, stderr, stdout};
use common::db::TestDb;
use common::serve::{Serve, ServeConfig};
use leadrouter::commands::rules::{Draft, publish};
use leadrouter::rules::Ruleset;
use leadrouter::store::{Role, Store};
use serde_json::{Value, json};
use std::path::Path;

/// A database with the sample leads routed by `RULES_A` (published: the rules in
/// force with `rules.source: database`), and tokens for each role.
struct Fixture {
    db: TestDb,
    store: Store,
    dir: tempfile::TempDir,
    admin: String,
    viewer: String,
    /// An agent token named `alice`, who owns L-1.
    alice: String,
    hash_a: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let db = TestDb::unique();
        let store = db.store().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routing.yaml"), RULES_A).unwrap();
        let draft = Draft {
            yaml: RULES_A.to_owned(),
            scripts: Default::default(),
        };
        let (done, loaded) = publish(&store, &draft, Path::new("a.yaml"), "setup", Some("first"))
            .await
            .expect("publish RULES_A");
        let rs: Ruleset = loaded.ruleset;
        let west = |id: &str| lead_at(json!({"id": id, "address": {"state": "CA"}}), ago(30));
        seed(
            &store,
            &rs,
            vec![
                west("L-1"),
                west("L-2"),
                lead_at(json!({"id": "L-3"}), ago(20)),
            ],
        )
        .await;
        let admin = store.add_token("boss", Role::Admin, "setup").await.unwrap();
        let viewer = store.add_token("vic", Role::Viewer, "setup").await.unwrap();
        let alice = store
            .add_token("alice", Role::Agent, "setup")
            .await
            .unwrap();
        Fixture {
            db,
            store,
            dir,
            admin,
            viewer,
            alice,
            hash_a: done.hash,
        }
    }

    async fn serve(&self, rules_source: &str) -> Serve {
        Serve::start(self.config(rules_source, &[])).await
    }

    fn config<'a>(&'a self, rules_source: &'a str, extra: &'a [&'a str]) -> ServeConfig<'a> {
        ServeConfig {
            db: &self.db,
            rules_source,
            rules_path: Box::leak(self.dir.path().join("routing.yaml").into_boxed_path()),
            dir: self.dir.path(),
            extra_args: extra,
        }
    }

    async fn cleanup(self) {
        self.store.close().await;
        self.db.cleanup().await;
    }
}

/// `(method, path, body)` called with each token, and the status each role gets.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    viewer: u16,
    agent: u16,
    admin: u16,
}

fn case(
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    [viewer, agent, admin]: [u16; 3],
) -> Case {
    Case {
        method,
        path,
        body,
        viewer,
        agent,
        admin,
    }
}

#[tokio::test]
async fn every_endpoint_answers_each_role_as_the_policy_says() {
    let f = Fixture::new().await;
    let s = f.serve("database").await;
    let lead = r#"{"id": "S-1", "address": {"state": "CA"}}"#;
    let cases = [
        case("GET", "/api/v1/leads/L-1", None, [200, 200, 200]),
        // alice owns L-1, not L-2: for her it does not exist.
        case("GET", "/api/v1/leads/L-2", None, [200, 404, 200]),
        case(
            "POST",
            "/api/v1/leads/L-3/reassign",
            Some(json!({"to": "carol", "note": "by hand"})),
            [403, 403, 200],
        ),
        case(
            "POST",
            "/api/v1/leads/L-3/unassign",
            Some(json!({"note": "back"})),
            [403, 403, 200],
        ),
        case("GET", "/api/v1/agents", None, [200, 200, 200]),
        case("POST", "/api/v1/agents/bob/halt", None, [403, 403, 200]),
        case("POST", "/api/v1/agents/bob/resume", None, [403, 403, 200]),
        case("POST", "/api/v1/agents/alice/halt", None, [403, 200, 200]),
        case("POST", "/api/v1/agents/alice/resume", None, [403, 200, 200]),
        case(
            "POST",
            "/api/v1/agents/eve/offboard",
            Some(json!({"to": "dana"})),
            [403, 403, 200],
        ),
        case("GET", "/api/v1/pools", None, [200, 403, 200]),
        case("GET", "/api/v1/rules", None, [200, 403, 200]),
        case("GET", "/api/v1/rules/history", None, [200, 403, 200]),
        case(
            "POST",
            "/api/v1/rules/check",
            Some(json!({"yaml": RULES_A})),
            [200, 403, 200],
        ),
        case(
            "POST",
            "/api/v1/simulate",
            Some(json!({"leads": [serde_json::from_str::<Value>(lead).unwrap()]})),
            [200, 403, 200],
        ),
        case(
            "POST",
            "/api/v1/replay",
            Some(json!({"since": "1h"})),
            [200, 403, 200],
        ),
        case(
            "POST",
            "/api/v1/rules",
            Some(json!({"yaml": format!("{RULES_A}\n# b\n"), "note": "second"})),
            [403, 403, 200],
        ),
        case(
            "POST",
            "/api/v1/rules/rollback",
            Some(json!({"hash": f.hash_a, "note": "undo"})),
            [403, 403, 200],
        ),
    ];
    // Forbidden first, so the admin's changes come after every refusal was proven
    // to write nothing.
    for c in &cases {
        for (who, token, want) in [
            ("viewer", &f.viewer, c.viewer),
            ("agent", &f.alice, c.agent),
        ] {
            let r = s.call(Some(token), c.method, c.path, c.body.as_ref());
            assert_eq!(
                r.status,
                want,
                "{who}: {} {}: {}",
                c.method,
                c.path,
                r.text()
            );
            if want >= 400 {
                let body = r.json();
                assert!(
                    body["error"].is_string() && body["code"].is_string(),
                    "{body}"
                );
                if want == 403 {
                    assert_eq!(body["code"], "forbidden");
                }
            }
        }
    }
    let mut conn = f.db.conn().await;
    let changes = common::db::count(
        &mut conn,
        "SELECT count(*) FROM routing_decisions WHERE actor <> 'router'",
    )
    .await;
    let mut expected_changes = 0;
    assert_eq!(changes, 0, "refused calls wrote decisions");
    for c in &cases {
        let r = s.call(Some(&f.admin), c.method, c.path, c.body.as_ref());
        assert_eq!(
            r.status,
            c.admin,
            "admin: {} {}: {}",
            c.method,
            c.path,
            r.text()
        );
        if c.path.starts_with("/api/v1/leads/L-3/") {
            expected_changes += 1;
        }
    }
    // The changes are the library's: one decision row and one event each, actor = the token's name.
    let by_boss = common::db::count(
        &mut conn,
        "SELECT count(*) FROM routing_decisions WHERE actor = 'boss'",
    )
    .await;
    assert_eq!(by_boss, expected_changes);
    let events = common::db::count(
        &mut conn,
        "SELECT count(*) FROM outbox WHERE body->>'actor' = 'boss'",
    )
    .await;
    assert_eq!(events, expected_changes);
    let alice_row: (bool, Option<String>) =
        sqlx::query_as("SELECT halted, updated_by FROM agents WHERE agent_id = 'alice'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        alice_row,
        (false, Some("boss".into())),
        "admin resumed alice last"
    );
    let eve_active: bool = sqlx::query_scalar("SELECT active FROM agents WHERE agent_id = 'eve'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!eve_active, "eve offboarded");
    let active: String = sqlx::query_scalar("SELECT hash FROM rulesets WHERE active")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(active, f.hash_a, "rolled back to the first version");
    drop(s);
    f.cleanup().await;
}

#[tokio::test]
async fn responses_carry_what_the_library_returns() {
    let f = Fixture::new().await;
    let s = f.serve("database").await;
    let a = Some(f.admin.as_str());

    let lead = s.call(a, "GET", "/api/v1/leads/L-1", None).json();
    assert_eq!(lead["lead"]["owner_id"], "alice");
    assert_eq!(lead["decisions"][0]["actor"], "router");
    assert_eq!(
        lead["decisions"][0]["trace"]["rules"][2]["rule"],
        "west-buyers"
    );

    let agents = s.call(Some(&f.alice), "GET", "/api/v1/agents", None).json();
    let ids: Vec<&str> = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice"], "an agent sees itself only");
    assert_eq!(agents["items"][0]["open_leads"], 1);

    // Paging by id.
    let page = s.call(a, "GET", "/api/v1/agents?limit=2", None).json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_owned();
    let page2 = s
        .call(
            a,
            "GET",
            &format!("/api/v1/agents?limit=2&after={next}"),
            None,
        )
        .json();
    assert!(page2["items"][0]["agent_id"].as_str().unwrap() > next.as_str());

    // Round robin dealt alice then bob: carol is next.
    let pools = s.call(a, "GET", "/api/v1/pools", None).json();
    let west = pools["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "west-agents")
        .unwrap();
    assert_eq!(west["next"]["agent"], "carol", "{west}");
    // Asking twice steps nothing.
    let again = s.call(a, "GET", "/api/v1/pools", None).json();
    assert_eq!(pools, again);

    let sim = s
        .call(
            a,
            "POST",
            "/api/v1/simulate",
            Some(&json!({
                "leads": [{"id": "S-1", "address": {"state": "CA"}}, {"id": "S-1"}, {"no": "id"}],
                "halted": ["alice"]
            })),
        )
        .json();
    let results = sim["results"].as_array().unwrap();
    assert_eq!(
        results[0]["decision"]["owner_id"], "bob",
        "alice halted: {sim}"
    );
    assert_eq!(
        results[0]["decision"]["trace"]["rules"][2]["skipped"][0]["why"],
        "halted"
    );
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("already routed")
    );
    assert!(results[2]["error"].as_str().unwrap().contains("rejected"));

    let replay = s
        .call(a, "POST", "/api/v1/replay", Some(&json!({"since": "2h"})))
        .json();
    assert_eq!(replay["replayed"], 3, "{replay}");
    assert_eq!(replay["changed"], 0, "{replay}");

    let check = s
        .call(
            a,
            "POST",
            "/api/v1/rules/check",
            Some(&json!({"yaml": "rules:\n  - name: x\n    assign: {pool: nope}\n"})),
        )
        .json();
    assert_eq!(check["valid"], false);
    assert_eq!(check["errors"][0]["line"], 3, "{check}");
    assert!(
        check["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );

    let rules = s.call(a, "GET", "/api/v1/rules", None).json();
    assert_eq!(rules["source"], "database");
    assert_eq!(rules["hash"], f.hash_a.as_str());
    assert_eq!(rules["yaml"], RULES_A);
    assert_eq!(rules["published_by"], "setup");
    drop(s);
    f.cleanup().await;
}

#[tokio::test]
async fn bad_input_is_a_json_error_naming_the_field() {
    let f = Fixture::new().await;
    let s = f.serve("database").await;
    let a = Some(f.admin.as_str());
    let bad: &[(&str, &str, Value, u16, Option<&str>)] = &[
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!({"to": 5}),
            400,
            Some("to"),
        ),
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!({"to": "a", "queue": "q"}),
            400,
            Some("queue"),
        ),
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!({}),
            400,
            Some("to"),
        ),
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!({"to": "a", "tow": "b"}),
            400,
            Some("tow"),
        ),
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!({"to": ""}),
            400,
            Some("to"),
        ),
        (
            "POST",
            "/api/v1/leads/L-1/reassign",
            json!([1, 2]),
            400,
            None,
        ),
        (
            "POST",
            "/api/v1/leads/NOPE/reassign",
            json!({"to": "bob"}),
            404,
            None,
        ),
        ("POST", "/api/v1/leads/NOPE/unassign", json!({}), 404, None),
        (
            "POST",
            "/api/v1/leads/L-1/unassign",
            json!({"note": 7}),
            400,
            Some("note"),
        ),
        (
            "POST",
            "/api/v1/agents/eve/offboard",
            json!({}),
            400,
            Some("to"),
        ),
        (
            "POST",
            "/api/v1/agents/eve/offboard",
            json!({"pool": "nope"}),
            400,
            Some("pool"),
        ),
        (
            "POST",
            "/api/v1/agents/eve/offboard",
            json!({"to": "eve"}),
            400,
            Some("to"),
        ),
        (
            "POST",
            "/api/v1/rules",
            json!({"yaml": 3}),
            400,
            Some("yaml"),
        ),
        (
            "POST",
            "/api/v1/rules",
            json!({"yaml": "rules: [", "note": "broken"}),
            422,
            None,
        ),
        (
            "POST",
            "/api/v1/rules/rollback",
            json!({"hash": "0000000000000000"}),
            404,
            None,
        ),
        (
            "POST",
            "/api/v1/rules/rollback",
            json!({}),
            400,
            Some("hash"),
        ),
        (
            "POST",
            "/api/v1/rules/check",
            json!({"yaml": "x", "scripts": {"a": 1}}),
            400,
            Some("scripts.a"),
        ),
        (
            "POST",
            "/api/v1/simulate",
            json!({"leads": "L-1"}),
            400,
            Some("leads"),
        ),
        (
            "POST",
            "/api/v1/simulate",
            json!({"leads": [], "yaml": "rules: ["}),
            422,
            None,
        ),
        (
            "POST",
            "/api/v1/simulate",
            json!({"leads": [], "at": "yesterday"}),
            400,
            Some("at"),
        ),
        (
            "POST",
            "/api/v1/replay",
            json!({"since": "forever"}),
            400,
            Some("since"),
        ),
        (
            "POST",
            "/api/v1/replay",
            json!({"since": "1h", "yaml": "pools: 3"}),
            422,
            None,
        ),
    ];
    for (method, path, body, status, field) in bad {
        let r = s.call(a, method, path, Some(body));
        assert_eq!(r.status, *status, "{method} {path} {body}: {}", r.text());
        let e = r.json();
        assert!(e["error"].is_string() && e["code"].is_string(), "{e}");
        if let Some(field) = field {
            assert_eq!(e["field"], *field, "{method} {path} {body}: {e}");
        }
        if *status == 422 {
            assert_eq!(e["code"], "invalid_rules");
            assert!(e["errors"][0]["message"].is_string(), "{e}");
        }
    }
    for path in [
        "/api/v1/agents?limit=0",
        "/api/v1/agents?limit=abc",
        "/api/v1/rules/history?limit=5000",
        "/api/v1/agents?colour=red",
        "/api/v1/rules/history?after=%00",
        "/api/v1/leads/L%00",
    ] {
        let r = s.call(a, "GET", path, None);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    // No body at all, and one that is not JSON.
    let r = s
        .request(
            "POST",
            "/api/v1/leads/L-1/unassign",
            &[("Authorization", &format!("Bearer {}", f.admin))],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s
        .request(
            "POST",
            "/api/v1/leads/L-1/unassign",
            &[("Authorization", &format!("Bearer {}", f.admin))],
            Some(b"note=x"),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    // Over 1 MiB: 413, JSON, nothing written.
    let big = json!({"to": "bob", "note": "x".repeat(1024 * 1024)});
    let r = s.call(a, "POST", "/api/v1/leads/L-1/reassign", Some(&big));
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["code"], "payload_too_large");
    // An unknown endpoint and a wrong method are JSON too.
    let r = s.call(a, "GET", "/api/v1/nothing", None);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("not_found"))
    );
    let r = s.call(a, "DELETE", "/api/v1/pools", None);
    assert_eq!(r.status, 405, "{}", r.text());
    assert!(r.json()["code"].is_string());

    let untouched = common::db::count(
        &mut f.db.conn().await,
        "SELECT count(*) FROM routing_decisions WHERE actor <> 'router'",
    )
    .await;
    assert_eq!(untouched, 0, "bad input wrote something");
    drop(s);
    f.cleanup().await;
}

#[tokio::test]
async fn publishing_needs_rules_source_database() {
    let f = Fixture::new().await;
    let s = f.serve("file").await;
    let a = Some(f.admin.as_str());
    for (path, body) in [
        ("/api/v1/rules", json!({"yaml": RULES_A})),
        ("/api/v1/rules/rollback", json!({"hash": f.hash_a})),
    ] {
        let r = s.call(a, "POST", path, Some(&body));
        assert_eq!(r.status, 409, "{path}: {}", r.text());
        assert_eq!(r.json()["code"], "rules_source_file");
    }
    let rules = s.call(a, "GET", "/api/v1/rules", None).json();
    assert_eq!(rules["source"], "file");
    assert_eq!(rules["yaml"], RULES_A);
    drop(s);
    f.cleanup().await;
}

#[tokio::test]
async fn tokens_no_unknown_or_revoked_get_401() {
    let f = Fixture::new().await;
    let s = f.serve("database").await;
    let path = "/api/v1/leads/L-1";
    for header in [
        None,
        Some("Bearer lr_0000"),
        Some("Basic Ym9zczpwdw=="),
        Some("Bearer "),
        Some(f.admin.as_str()),
    ] {
        let headers: Vec<(&str, &str)> = header
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        let r = s.request("GET", path, &headers, None).unwrap();
        assert_eq!(r.status, 401, "{header:?}: {}", r.text());
        assert_eq!(r.json()["code"], "unauthorized");
    }
    assert_eq!(s.call(Some(&f.viewer), "GET", path, None).status, 200);
    // Revoked with the CLI: 401 from the next request on.
    let o = cli(&f.db, &["tokens", "revoke", "vic"]);
    expect_code(&o, 0);
    assert_eq!(s.call(Some(&f.viewer), "GET", path, None).status, 401);
    // The token was never stored, nor logged.
    let mut conn = f.db.conn().await;
    let dump = common::admin::dump(&mut conn).await.join("\n");
    let tokens: String =
        sqlx::query_scalar("SELECT string_agg(to_jsonb(t)::text, ' ') FROM api_tokens t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    for t in [&f.admin, &f.viewer, &f.alice] {
        assert!(!dump.contains(t.as_str()) && !tokens.contains(t.as_str()));
        assert!(!s.log_text().contains(&t[3..]), "a token in the log");
    }
    drop(s);
    f.cleanup().await;
}

#[tokio::test]
async fn tokens_commands_show_a_token_once_and_list_no_hash() {
    let db = TestDb::unique();
    let store = db.store().await;
    let o = cli(&db, &["tokens", "add", "crm", "--role", "viewer"]);
    expect_code(&o, 0);
    let token = stdout(&o).trim().to_owned();
    assert!(token.starts_with("lr_") && token.len() >= 3 + 64, "{token}");
    let owner = store
        .token_owner(&token)
        .await
        .unwrap()
        .expect("the printed token works");
    assert_eq!((owner.name.as_str(), owner.role), ("crm", Role::Viewer));
    // A live name cannot be taken again; a reserved one never.
    expect_code(&cli(&db, &["tokens", "add", "crm", "--role", "admin"]), 2);
    let o = cli(&db, &["tokens", "add", "router", "--role", "admin"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("reserved"), "{}", stderr(&o));
    expect_code(&cli(&db, &["tokens", "add", "x", "--role", "root"]), 2);
    let o = cli(&db, &["tokens", "list"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("crm")
            && stdout(&o).contains("viewer")
            && stdout(&o).contains("tester")
    );
    assert!(!stdout(&o).contains(&token[3..]));
    let o = cli(&db, &["tokens", "list", "--json"]);
    let listed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(listed[0]["name"], "crm");
    assert!(listed[0].get("token_sha256").is_none());
    expect_code(&cli(&db, &["tokens", "revoke", "crm"]), 0);
    assert!(store.token_owner(&token).await.unwrap().is_none());
    expect_code(&cli(&db, &["tokens", "revoke", "nobody"]), 2);
    // After revoking, the name may have a new token; the old one stays dead.
    let o = cli(&db, &["tokens", "add", "crm", "--role", "admin"]);
    expect_code(&o, 0);
    let second = stdout(&o).trim().to_owned();
    assert!(store.token_owner(&token).await.unwrap().is_none());
    assert_eq!(
        store.token_owner(&second).await.unwrap().unwrap().role,
        Role::Admin
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn serve_refuses_to_start_without_an_admin_token() {
    let db = TestDb::unique();
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.yaml");
    std::fs::write(&rules, RULES_A).unwrap();
    let config = |extra: &'static [&'static str]| ServeConfig {
        db: &db,
        rules_source: "file",
        rules_path: Box::leak(rules.clone().into_boxed_path()),
        dir: dir.path(),
        extra_args: extra,
    };
    let mut s = Serve::spawn(config(&[]));
    assert_eq!(s.exit_code().await, Some(2), "{}", s.log_text());
    assert!(s.log_text().contains("no admin token"), "{}", s.log_text());
    // A viewer token is not enough.
    store.add_token("vic", Role::Viewer, "setup").await.unwrap();
    let mut s = Serve::spawn(config(&[]));
    assert_eq!(s.exit_code().await, Some(2), "{}", s.log_text());
    // --allow-no-tokens on loopback: it starts, and still wants a token.
    let s = Serve::start(config(&["--allow-no-tokens"])).await;
    assert_eq!(s.call(None, "GET", "/api/v1/pools", None).status, 401);
    drop(s);
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn console_document_and_metrics_need_no_token() {
    let f = Fixture::new().await;
    let s = f.serve("database").await;
    let page = s.request("GET", "/", &[], None).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.header("set-cookie").is_none());
    let doc = s.request("GET", "/api/v1/openapi.json", &[], None).unwrap();
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    for path in [
        "/api/v1/leads/{id}",
        "/api/v1/leads/{id}/reassign",
        "/api/v1/agents",
        "/api/v1/pools",
        "/api/v1/rules",
        "/api/v1/simulate",
        "/api/v1/replay",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} not documented");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    // Every route is exported at 0 from the start; a request counts under its template.
    let metrics = s.request("GET", "/metrics", &[], None).unwrap().text();
    let series = r#"leadrouter_api_requests_total{route="/api/v1/leads/{id}",status="200"}"#;
    assert!(metrics.contains(&format!("{series} 0")), "{metrics}");
    assert_eq!(
        s.call(Some(&f.viewer), "GET", "/api/v1/leads/L-1", None)
            .status,
        200
    );
    assert_eq!(
        s.call(Some(&f.viewer), "GET", "/api/v1/leads/L-2", None)
            .status,
        200
    );
    let metrics = s.request("GET", "/metrics", &[], None).unwrap().text();
    assert!(metrics.contains(&format!("{series} 2")), "{metrics}");
    assert!(!metrics.contains("L-1"), "a lead id became a label");
    drop(s);
    f.cleanup().await;
}
