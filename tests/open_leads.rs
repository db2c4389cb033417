//! `agent_open_leads` (what least_loaded pools read) stays equal to the count of
//! assigned leads per owner, whatever writes `leads`: router batches, admin-style
//! updates, hand-written fixes, deletes, truncation, and a database migrated with
//! leads already in it.

use common::db::TestDb;
use leadrouter::lead::{Lead, LeadId};
use leadrouter::routing::{LeadStatus, RoutingDecision, Trace};
use leadrouter::store::{MIGRATOR, Store};
use serde_json::json;
use sqlx::PgConnection;
use sqlx::migrate::Migrator;
use std::collections::BTreeMap;

const AGENTS: [&str; 4] = ["ann", "ben", "cat", "dov"];

fn lead(id: String) -> Lead {
    Lead {
        id: LeadId::parse(&id).unwrap(),
        received_at: None,
        payload: json!({"id": id}).as_object().cloned().unwrap(),
    }
}

fn decision(n: usize) -> RoutingDecision {
    // Every third lead is left unassigned: it must not count.
    let (status, owner_id) = if n % 3 == 2 {
        (LeadStatus::Unassigned, None)
    } else {
        (
            LeadStatus::Assigned,
            Some(AGENTS[n % AGENTS.len()].to_owned()),
        )
    };
    RoutingDecision {
        status,
        owner_id,
        queue: None,
        pool: None,
        rule: Some("test".into()),
        trace: Trace::default(),
        assignees: Vec::new(),
    }
}

async fn kept(conn: &mut PgConnection) -> BTreeMap<String, i64> {
    sqlx::query_as("SELECT agent_id, open_leads FROM agent_open_leads WHERE open_leads <> 0")
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn counted(conn: &mut PgConnection) -> BTreeMap<String, i64> {
    sqlx::query_as(
        "SELECT owner_id, count(*) FROM leads WHERE status = 'assigned' GROUP BY owner_id",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn route(store: &Store, prefix: &str, n: usize) {
    let leads: Vec<Lead> = (0..n).map(|i| lead(format!("{prefix}-{i}"))).collect();
    let mut i = 0;
    store
        .route_batch(&leads, "hash", &[], &[], |_, _| {
            i += 1;
            decision(i - 1)
        })
        .await
        .unwrap();
}

async fn exec(conn: &mut PgConnection, sql: &'static str) {
    sqlx::query(sql).execute(conn).await.unwrap();
}

#[tokio::test]
async fn counts_follow_every_kind_of_write_to_leads() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let mut conn = db.conn().await;

    route(&store, "a", 50).await;
    route(&store, "b", 31).await;
    let after_batches = counted(&mut conn).await;
    assert_eq!(after_batches.values().sum::<i64>(), 55, "{after_batches:?}");
    assert_eq!(kept(&mut conn).await, after_batches);

    // Reassign ann's leads to ben (an admin reassign), in one statement.
    exec(
        &mut conn,
        "UPDATE leads SET owner_id = 'ben' WHERE owner_id = 'ann'",
    )
    .await;
    // Queue some of cat's (owner cleared), assign an unassigned one to dov.
    exec(
        &mut conn,
        "UPDATE leads SET status = 'queued', owner_id = NULL, queue = 'office',
                          unassigned_since = now()
         WHERE lead_id IN (SELECT lead_id FROM leads WHERE owner_id = 'cat' ORDER BY lead_id LIMIT 5)",
    )
    .await;
    exec(
        &mut conn,
        "UPDATE leads SET status = 'assigned', owner_id = 'dov', unassigned_since = NULL
         WHERE lead_id = (SELECT min(lead_id) FROM leads WHERE status = 'unassigned')",
    )
    .await;
    // An update that changes no owner (a note on the payload) leaves counts alone.
    exec(
        &mut conn,
        "UPDATE leads SET payload = payload || '{\"seen\": true}'",
    )
    .await;
    let after_updates = counted(&mut conn).await;
    assert!(!after_updates.contains_key("ann"));
    assert_eq!(kept(&mut conn).await, after_updates);

    exec(&mut conn, "DELETE FROM leads WHERE lead_id LIKE 'b-%'").await;
    assert_eq!(kept(&mut conn).await, counted(&mut conn).await);

    exec(&mut conn, "TRUNCATE leads CASCADE").await;
    assert!(kept(&mut conn).await.is_empty());
    route(&store, "c", 8).await;
    assert_eq!(kept(&mut conn).await, counted(&mut conn).await);
    db.cleanup().await;
}

#[tokio::test]
async fn migrating_a_database_with_leads_counts_them() {
    let db = TestDb::create().await;
    let mut conn = db.conn().await;
    // The schema as it was before the counts existed (migration 1 only).
    let mut first = Migrator {
        migrations: MIGRATOR.migrations.clone(),
        ..Migrator::DEFAULT
    };
    first.migrations = first.migrations[..1].to_vec().into();
    first.run(&mut conn).await.unwrap();
    exec(
        &mut conn,
        "INSERT INTO leads (lead_id, status, owner_id, queue, received_at, decided_at, unassigned_since, payload)
         SELECT 'old-' || i,
                CASE WHEN i % 4 = 0 THEN 'queued' ELSE 'assigned' END,
                CASE WHEN i % 4 = 0 THEN NULL ELSE (ARRAY['ann','ben','cat'])[i % 3 + 1] END,
                CASE WHEN i % 4 = 0 THEN 'office' END,
                now(), now(),
                CASE WHEN i % 4 = 0 THEN now() END,
                '{}'
         FROM generate_series(1, 40) i",
    )
    .await;

    let store = db.store().await; // applies the rest
    let expected = counted(&mut conn).await;
    assert_eq!(expected.values().sum::<i64>(), 30);
    assert_eq!(kept(&mut conn).await, expected);
    route(&store, "new", 9).await;
    assert_eq!(kept(&mut conn).await, counted(&mut conn).await);
    db.cleanup().await;
}
