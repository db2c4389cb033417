-- Owner and assignees, claims (SPEC 3.1, 3.2, 6). Adds only: a CRM query written
-- against the earlier schema keeps working.

-- Agents who work a lead without owning it. The owner is never also an assignee.
CREATE TABLE lead_assignees (
    lead_id  text        NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    agent_id text        NOT NULL,
    added_at timestamptz NOT NULL,
    -- `router` (a rule's also_assign), or who added them by hand.
    added_by text        NOT NULL,
    note     text,
    -- Internal: keeps a lead's assignees in the order they were added (the order a
    -- rule lists them), which events and `leads show` print.
    seq      bigint      GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (lead_id, agent_id)
);

-- Offboarding removes an agent from every lead's assignees; an agent's leads in the API.
CREATE INDEX lead_assignees_agent ON lead_assignees (agent_id);

-- How each decision came about. Existing rows are named from what they are: the
-- router's own; an offboarding's pool deal (its trace says so; an offboarding to one
-- agent left no mark and reads as the reassignment it was); other manual changes by
-- where they put the lead (`leads unassign` is the only way a lead was made
-- unassigned by hand, `leads reassign` gave an owner or a queue).
ALTER TABLE routing_decisions ADD COLUMN via text;
UPDATE routing_decisions SET via = CASE
    WHEN actor = 'router' THEN 'route'
    WHEN trace->>'manual' = 'offboard' THEN 'offboard'
    WHEN status = 'unassigned' THEN 'unassign'
    ELSE 'reassign'
END;
-- No default: every writer names its `via`.
ALTER TABLE routing_decisions ALTER COLUMN via SET NOT NULL;
ALTER TABLE routing_decisions ADD CONSTRAINT routing_decisions_via_check CHECK (via IN (
    'route', 'reassign', 'unassign', 'assignees', 'claim', 'accept', 'offer_ended', 'pass',
    'offboard'
));

-- The bulk pass a decision belongs to (`leads pass`: one id shared by every lead it
-- moves); null otherwise.
ALTER TABLE routing_decisions ADD COLUMN bulk_id uuid;
