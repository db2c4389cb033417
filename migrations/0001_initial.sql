-- leadrouter schema (SPEC section 6). `leads`, `routing_decisions`, `agents` and
-- `unassigned_alerts` are read by the CRM: their column names are a contract.
-- `pool_rotations` and `outbox` are internal.

CREATE TABLE leads (
    lead_id          text        PRIMARY KEY,
    status           text        NOT NULL,
    owner_id         text,
    queue            text,
    pool             text,
    rule             text,
    received_at      timestamptz NOT NULL,
    decided_at       timestamptz NOT NULL,
    unassigned_since timestamptz,
    payload          jsonb       NOT NULL,
    CONSTRAINT leads_status_check CHECK (status IN ('assigned', 'queued', 'unassigned')),
    -- The contract's invariants, enforced so no writer (router, admin command, a
    -- hand-written fix) can leave a row the CRM would misread.
    CONSTRAINT leads_owner_iff_assigned CHECK ((status = 'assigned') = (owner_id IS NOT NULL)),
    CONSTRAINT leads_queue_iff_queued CHECK ((status = 'queued') = (queue IS NOT NULL)),
    CONSTRAINT leads_unassigned_since_iff_ownerless CHECK ((owner_id IS NULL) = (unassigned_since IS NOT NULL))
);

-- least_loaded counts open (assigned) leads per owner.
CREATE INDEX leads_open_by_owner ON leads (owner_id) WHERE status = 'assigned';
-- The sweeper looks for ownerless leads older than the threshold; the gauge counts them.
CREATE INDEX leads_ownerless_since ON leads (unassigned_since) WHERE owner_id IS NULL;
-- `replay --since` selects by receipt time.
CREATE INDEX leads_received_at ON leads (received_at);

CREATE TABLE routing_decisions (
    id          bigserial   PRIMARY KEY,
    lead_id     text        NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    status      text        NOT NULL,
    owner_id    text,
    queue       text,
    pool        text,
    rule        text,
    -- The explain trace; null for manual changes, which have no rules to explain.
    trace       jsonb,
    -- Hash of the rules in force; null for manual changes.
    ruleset     text,
    decided_at  timestamptz NOT NULL,
    actor       text        NOT NULL,
    note        text,
    CONSTRAINT routing_decisions_status_check CHECK (status IN ('assigned', 'queued', 'unassigned'))
);

-- History of one lead, newest last (`leads show`, `replay`'s latest router decision).
CREATE INDEX routing_decisions_lead ON routing_decisions (lead_id, id);

CREATE TABLE agents (
    agent_id   text        PRIMARY KEY,
    halted     boolean     NOT NULL DEFAULT false,
    active     boolean     NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text
);

CREATE TABLE unassigned_alerts (
    id               bigserial   PRIMARY KEY,
    lead_id          text        NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    raised_at        timestamptz NOT NULL DEFAULT now(),
    unassigned_since timestamptz NOT NULL,
    -- Once per lead per ownerless spell, whichever instance's sweeper gets there first.
    CONSTRAINT unassigned_alerts_once_per_spell UNIQUE (lead_id, unassigned_since)
);

-- Rotation position per pool (serde JSON of routing::PoolRotation), read and written
-- under the routing advisory lock so every instance deals from one sequence.
CREATE TABLE pool_rotations (
    pool       text        PRIMARY KEY,
    state      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events written in the same transaction as the change they announce; deleted once
-- the broker confirms them. `claimed_until` is a relay lease (see store::outbox).
CREATE TABLE outbox (
    event_id      uuid        PRIMARY KEY,
    -- Keeps relay order = commit order within a batch (created_at ties inside one).
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    routing_key   text        NOT NULL,
    body          jsonb       NOT NULL,
    -- Insert time, not transaction start: a batch may wait for the routing lock, and
    -- its events must not look old to the backstop relay the moment they commit.
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_until timestamptz
);

CREATE INDEX outbox_seq ON outbox (seq);
