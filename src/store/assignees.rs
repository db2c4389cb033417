//! The `lead_assignees` table (SPEC 3.1, 6): who works a lead besides its owner. Its
//! columns and statements live here only. Rows are written in the transaction of the
//! change that makes them (a router batch, `leads assignees`, a claim or reassignment
//! that makes an assignee the owner, an offboarding), always under the lead's row lock
//! or, for new leads, in the batch that inserts them.
use super::StoreError;
use super::read::ByKey;
use super::write::{Verb, Write};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use std::collections::HashMap;

/// One assignee of a lead, as stored (`leads show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AssigneeRecord {
    pub agent_id: String,
    pub added_at: DateTime<Utc>,
    /// `router` (a rule's `also_assign`), or who added them.
    pub added_by: String,
    pub note: Option<String>,
}

/// The lead's assignees, in the order they were added.
pub(super) const OF_LEAD: ByKey<AssigneeRecord> = ByKey::new(
    "SELECT agent_id, added_at, added_by, note FROM lead_assignees WHERE lead_id = $1 ORDER BY seq",
);

/// The leads `$1` is an assignee of, locked, oldest received first (offboarding).
pub(super) const LOCK_LEADS_WITH: ByKey<(String,)> = ByKey::new(
    "SELECT l.lead_id FROM leads l
     WHERE EXISTS (SELECT 1 FROM lead_assignees a WHERE a.lead_id = l.lead_id AND a.agent_id = $1)
     ORDER BY l.received_at, l.lead_id FOR UPDATE",
);

/// The assignees of each of `lead_ids` (ids in the order added); leads without any
/// are absent. Read under the leads' row locks, so the lists are the ones a change
/// starts from.
pub(super) async fn of_leads(
    conn: &mut PgConnection,
    lead_ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if lead_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT lead_id, agent_id FROM lead_assignees WHERE lead_id = ANY($1) ORDER BY seq",
    )
    .bind(lead_ids)
    .fetch_all(conn)
    .await?;
    for (lead, agent) in rows {
        out.entry(lead).or_default().push(agent);
    }
    Ok(out)
}

/// New rows, pushed in the order they are added (which `seq` keeps).
pub(super) struct NewAssignees<'a> {
    lead_id: Vec<&'a str>,
    agent_id: Vec<&'a str>,
    note: Vec<Option<&'a str>>,
    added_at: DateTime<Utc>,
    added_by: &'a str,
}

impl<'a> NewAssignees<'a> {
    pub fn new(added_at: DateTime<Utc>, added_by: &'a str) -> Self {
        NewAssignees {
            lead_id: Vec::new(),
            agent_id: Vec::new(),
            note: Vec::new(),
            added_at,
            added_by,
        }
    }

    pub fn push(&mut self, lead_id: &'a str, agent: &'a str, note: Option<&'a str>) {
        self.lead_id.push(lead_id);
        self.agent_id.push(agent);
        self.note.push(note);
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("lead_assignees", Verb::Insert { tail: "" }, rows, |c| {
            c.rows("lead_id", &self.lead_id);
            c.rows("agent_id", &self.agent_id);
            c.shared("added_at", self.added_at);
            c.shared("added_by", self.added_by);
            c.rows("note", &self.note);
        });
    }
}

/// Rows to delete: (lead, agent) pairs.
#[derive(Default)]
pub(super) struct RemovedAssignees<'a> {
    lead_id: Vec<&'a str>,
    agent_id: Vec<&'a str>,
}

impl<'a> RemovedAssignees<'a> {
    pub fn push(&mut self, lead_id: &'a str, agent: &'a str) {
        self.lead_id.push(lead_id);
        self.agent_id.push(agent);
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("lead_assignees", Verb::Delete, rows, |c| {
            c.rows("lead_id", &self.lead_id);
            c.rows("agent_id", &self.agent_id);
        });
    }
}
