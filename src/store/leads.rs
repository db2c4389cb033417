//! The `leads` table (SPEC 6): one row per lead, where it is now. Its columns, the
//! statements that write them, and the ownerless-spell rule live here only.
use super::placement::{Placement, PlacementColumns, PlacementRef, placement_columns};
use super::read::ByKey;
use super::write::{Columns, Verb, Write};
use super::{Store, StoreError};
use crate::lead::Lead;
use crate::routing::RoutingDecision;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::collections::HashMap;

/// A lead's state: the columns of its `leads` row that decisions and manual changes set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadState {
    /// Where the latest decision put it (rule and pool null after a manual change).
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub placement: Placement,
    /// When its ownerless spell started; null while it has an owner
    /// (see [`ownerless_since`]).
    pub unassigned_since: Option<DateTime<Utc>>,
    // Next: `offer_expires_at` (set only while offered) goes here, in `state_columns!`
    // and in `StateColumns`.
}

/// [`LeadState`]'s columns, for selects.
macro_rules! state_columns {
    () => {
        concat!(placement_columns!(), ", unassigned_since")
    };
}

/// The `leads` row as stored (`leads show`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LeadRecord {
    pub lead_id: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub state: LeadState,
    pub received_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    /// The message as received.
    #[sqlx(json)]
    pub payload: Value,
}

/// Locks a lead's row for the rest of the transaction: its state.
pub(super) const LOCK_STATE: ByKey<LeadState> = ByKey::new(concat!(
    "SELECT ",
    state_columns!(),
    " FROM leads WHERE lead_id = $1 FOR UPDATE"
));

/// The lead's row.
pub(super) const RECORD: ByKey<LeadRecord> = ByKey::new(concat!(
    "SELECT lead_id, ",
    state_columns!(),
    ", received_at, decided_at, payload FROM leads WHERE lead_id = $1"
));

/// A lead's state with its id.
#[derive(sqlx::FromRow)]
struct StateOf {
    lead_id: String,
    #[sqlx(flatten)]
    state: LeadState,
}

/// The states of `lead_ids` (those that exist). Lock them first for a consistent read.
pub(super) async fn states_of(
    conn: &mut sqlx::PgConnection,
    lead_ids: &[&str],
) -> Result<HashMap<String, LeadState>, StoreError> {
    if lead_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<StateOf> = sqlx::query_as(concat!(
        "SELECT lead_id, ",
        state_columns!(),
        " FROM leads WHERE lead_id = ANY($1)"
    ))
    .bind(lead_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.lead_id, r.state)).collect())
}

/// An agent's open (assigned) leads' ids, locked, oldest received first (the order
/// offboarding deals them in).
pub(super) const LOCK_OPEN_LEADS_OF: ByKey<(String,)> = ByKey::new(
    "SELECT lead_id FROM leads WHERE status = 'assigned' AND owner_id = $1
     ORDER BY received_at, lead_id FOR UPDATE",
);

/// The ownerless-spell rule (SPEC 4 "Manual changes", SPEC 7), written only here: a
/// lead with an owner has no spell; one left without an owner keeps the spell
/// `running` (moving between a queue and unassigned is the same wait, so the sweeper's
/// once-per-spell alert is not raised again), or starts one `from` now: the decision
/// time of a change, `received_at` for a new lead (never assigned before).
pub(super) fn ownerless_since(
    has_owner: bool,
    running: Option<DateTime<Utc>>,
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    (!has_owner).then(|| running.unwrap_or(from))
}

impl LeadState {
    /// The state a change to `to` at `now` leaves a lead in whose ownerless spell so
    /// far is `running`.
    pub(super) fn after_change(
        to: PlacementRef<'_>,
        running: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> LeadState {
        LeadState {
            unassigned_since: ownerless_since(to.owner_id.is_some(), running, now),
            placement: to.to_owned(),
        }
    }
}

/// [`LeadState`]'s columns of the rows a statement writes, one entry per row.
#[derive(Default)]
struct StateColumns<'a> {
    placement: PlacementColumns<'a>,
    unassigned_since: Vec<Option<DateTime<Utc>>>,
}

impl<'a> StateColumns<'a> {
    fn push(&mut self, to: PlacementRef<'a>, unassigned_since: Option<DateTime<Utc>>) {
        self.placement.push(to);
        self.unassigned_since.push(unassigned_since);
    }

    fn name(&self, c: &mut Columns<'_>) {
        self.placement.name(c);
        c.rows("unassigned_since", &self.unassigned_since);
    }
}

/// New `leads` rows: a batch's decided leads, pushed in order.
pub(super) struct NewLeads<'a> {
    lead_id: Vec<&'a str>,
    state: StateColumns<'a>,
    received_at: Vec<DateTime<Utc>>,
    payload: Vec<Json<&'a Map<String, Value>>>,
    decided_at: DateTime<Utc>,
}

impl<'a> NewLeads<'a> {
    /// Rows decided at `decided_at` (the batch's clock).
    pub fn new(decided_at: DateTime<Utc>) -> Self {
        NewLeads {
            lead_id: Vec::new(),
            state: StateColumns::default(),
            received_at: Vec::new(),
            payload: Vec::new(),
            decided_at,
        }
    }

    pub fn push(
        &mut self,
        lead: &'a Lead,
        received_at: DateTime<Utc>,
        decision: &'a RoutingDecision,
    ) {
        let since = ownerless_since(decision.owner_id.is_some(), None, received_at);
        self.lead_id.push(lead.id.as_str());
        self.state.push(decision.into(), since);
        self.received_at.push(received_at);
        self.payload.push(Json(&lead.payload));
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("leads", Verb::Insert { tail: "" }, rows, |c| {
            c.rows("lead_id", &self.lead_id);
            self.state.name(c);
            c.rows("received_at", &self.received_at);
            c.shared("decided_at", self.decided_at);
            c.rows("payload", &self.payload);
        });
    }
}

/// Changes of existing rows' state (manual changes), pushed in order.
pub(super) struct LeadChanges<'a> {
    lead_id: Vec<&'a str>,
    state: StateColumns<'a>,
    decided_at: DateTime<Utc>,
}

impl<'a> LeadChanges<'a> {
    /// Changes made at `decided_at`.
    pub fn new(decided_at: DateTime<Utc>) -> Self {
        LeadChanges {
            lead_id: Vec::new(),
            state: StateColumns::default(),
            decided_at,
        }
    }

    /// The lead's row becomes `after` (see [`LeadState::after_change`]).
    pub fn push(&mut self, lead_id: &'a str, after: &'a LeadState) {
        self.lead_id.push(lead_id);
        self.state
            .push((&after.placement).into(), after.unassigned_since);
    }

    pub fn write(&self, w: &mut Write) {
        let rows = self.lead_id.len();
        w.part("leads", Verb::Update { key: "lead_id" }, rows, |c| {
            c.rows("lead_id", &self.lead_id);
            self.state.name(c);
            c.shared("decided_at", self.decided_at);
        });
    }
}

/// One owner's open-lead count.
#[derive(sqlx::FromRow)]
struct OpenLeads {
    owner_id: String,
    open_leads: i64,
}

impl Store {
    /// Leads without an owner now (queued or unassigned): the `leadrouter_unassigned_leads` gauge.
    pub async fn unassigned_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE owner_id IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Open (assigned) leads per owner, for every owner that has any.
    pub async fn open_lead_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let rows: Vec<OpenLeads> = sqlx::query_as(
            "SELECT owner_id, count(*) AS open_leads FROM leads WHERE status = 'assigned'
             GROUP BY owner_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.owner_id, r.open_leads.max(0) as u64))
            .collect())
    }
}
