-- Open (assigned) leads per owner, kept current by statement-level triggers on `leads`,
-- so a least_loaded pool reads one row per member instead of counting every open lead
-- of its members in every batch (that count grows with the table forever).
-- Internal: the CRM reads `leads`; this table is only the router's running total.

CREATE TABLE agent_open_leads (
    agent_id   text   PRIMARY KEY,
    open_leads bigint NOT NULL
);

INSERT INTO agent_open_leads (agent_id, open_leads)
SELECT owner_id, count(*) FROM leads WHERE status = 'assigned' GROUP BY owner_id;

-- One statement per firing, rows locked in agent_id order (no deadlock between two
-- writers), agents whose count did not change left alone.
CREATE FUNCTION leadrouter_open_leads_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO agent_open_leads AS a (agent_id, open_leads)
        SELECT owner_id, count(*) FROM new_rows WHERE status = 'assigned'
        GROUP BY owner_id ORDER BY owner_id
        ON CONFLICT (agent_id) DO UPDATE SET open_leads = a.open_leads + EXCLUDED.open_leads;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO agent_open_leads AS a (agent_id, open_leads)
        SELECT owner_id, sum(d) FROM (
            SELECT owner_id, -1 AS d FROM old_rows WHERE status = 'assigned'
            UNION ALL
            SELECT owner_id, 1 FROM new_rows WHERE status = 'assigned'
        ) c
        GROUP BY owner_id HAVING sum(d) <> 0 ORDER BY owner_id
        ON CONFLICT (agent_id) DO UPDATE SET open_leads = a.open_leads + EXCLUDED.open_leads;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO agent_open_leads AS a (agent_id, open_leads)
        SELECT owner_id, -count(*) FROM old_rows WHERE status = 'assigned'
        GROUP BY owner_id ORDER BY owner_id
        ON CONFLICT (agent_id) DO UPDATE SET open_leads = a.open_leads + EXCLUDED.open_leads;
    ELSE -- TRUNCATE
        DELETE FROM agent_open_leads;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_open_leads_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leadrouter_open_leads_changed();
CREATE TRIGGER leads_open_leads_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leadrouter_open_leads_changed();
CREATE TRIGGER leads_open_leads_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leadrouter_open_leads_changed();
CREATE TRIGGER leads_open_leads_truncate AFTER TRUNCATE ON leads
    FOR EACH STATEMENT EXECUTE FUNCTION leadrouter_open_leads_changed();
