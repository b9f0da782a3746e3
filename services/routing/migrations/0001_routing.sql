-- The provider registry, seeded from data/providers.yaml; `active` counts engagements reserved or open.
CREATE TABLE providers (
    provider_id    text PRIMARY KEY,
    tier           text NOT NULL,
    record         jsonb NOT NULL,
    active         int NOT NULL DEFAULT 0 CHECK (active >= 0),
    assigned_total int NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE requests (
    request_id     uuid PRIMARY KEY,
    submitted_at   timestamptz NOT NULL,
    correlation_id text NOT NULL,
    request        jsonb NOT NULL,
    priority       int NOT NULL,
    outcome        text NOT NULL,
    tier           text,
    provider_id    text REFERENCES providers (provider_id),
    updated_at     timestamptz NOT NULL
);
-- The waiting queue: arrival order within priority, per tier.
CREATE INDEX requests_queue ON requests (tier, priority, submitted_at) WHERE outcome = 'queued';

-- Every decision ever made, policy or staff; an override never erases the original.
CREATE TABLE decisions (
    id             bigserial PRIMARY KEY,
    request_id     uuid NOT NULL REFERENCES requests (request_id),
    decided_at     timestamptz NOT NULL DEFAULT now(),
    decided_by     text NOT NULL,
    outcome        text NOT NULL,
    tier           text,
    provider_id    text,
    policy_version text,
    rules_fired    jsonb NOT NULL DEFAULT '[]',
    candidates     jsonb NOT NULL DEFAULT '[]',
    review_reasons jsonb NOT NULL DEFAULT '[]',
    reason         text
);
CREATE INDEX decisions_by_request ON decisions (request_id, id);

-- Which provider each engagement holds a place with, so a close frees exactly one place once.
CREATE TABLE engagement_places (
    engagement_id uuid PRIMARY KEY,
    request_id    uuid NOT NULL,
    provider_id   text NOT NULL,
    released_at   timestamptz
);
