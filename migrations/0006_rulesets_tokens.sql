-- Rules kept in PostgreSQL (SPEC section 10) and the admin API's tokens (SPEC section 9).

-- One row per version of the rules: the YAML and the scripts it names, as published.
-- `hash` is the ruleset hash the router writes in `routing_decisions.ruleset`.
-- Publishing the same text again activates the existing row (same hash).
CREATE TABLE rulesets (
    hash         text        PRIMARY KEY,
    yaml         text        NOT NULL,
    -- Script path (as the rules name it) -> its source.
    scripts      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    published_at timestamptz NOT NULL,
    published_by text        NOT NULL,
    note         text,
    active       boolean     NOT NULL DEFAULT false,
    CONSTRAINT rulesets_scripts_object CHECK (jsonb_typeof(scripts) = 'object')
);

-- Exactly one active version: at most one by this index, at least one by every writer
-- (activation clears the old flag and sets the new one in one transaction).
CREATE UNIQUE INDEX rulesets_one_active ON rulesets ((true)) WHERE active;
-- `rules history`, newest first.
CREATE INDEX rulesets_published ON rulesets (published_at DESC, hash);

-- Every activation (publish, or rollback to an earlier version): who, when, why.
CREATE TABLE ruleset_activations (
    id           bigserial   PRIMARY KEY,
    hash         text        NOT NULL REFERENCES rulesets (hash),
    activated_at timestamptz NOT NULL,
    activated_by text        NOT NULL,
    note         text,
    via          text        NOT NULL,
    CONSTRAINT ruleset_activations_via_check CHECK (via IN ('publish', 'rollback'))
);
CREATE INDEX ruleset_activations_hash ON ruleset_activations (hash, id);

-- API tokens: only the SHA-256 of each token is kept. The name is the actor of the
-- changes made with it (an agent token's name is the agent's id).
CREATE TABLE api_tokens (
    name         text        PRIMARY KEY,
    role         text        NOT NULL,
    token_sha256 bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'agent', 'viewer')),
    CONSTRAINT api_tokens_sha256_length CHECK (octet_length(token_sha256) = 32)
);
CREATE UNIQUE INDEX api_tokens_by_hash ON api_tokens (token_sha256);
