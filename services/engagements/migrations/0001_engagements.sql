CREATE TABLE engagements (
    engagement_id    uuid PRIMARY KEY,
    request_id       uuid NOT NULL,
    tier             text NOT NULL,
    provider         jsonb NOT NULL,
    agency           jsonb NOT NULL,
    urgency          text NOT NULL,
    status           text NOT NULL,
    milestones       jsonb NOT NULL DEFAULT '[]',
    opened_at        timestamptz NOT NULL,
    status_since     timestamptz NOT NULL,
    first_contact_at timestamptz,
    closed_at        timestamptz,
    outcome          text,
    escalated_from   uuid REFERENCES engagements (engagement_id),
    correlation_id   text NOT NULL,
    version          int NOT NULL DEFAULT 1
);
-- At most one open engagement per request: a second routing of the same request reassigns, never doubles.
CREATE UNIQUE INDEX engagements_one_open_per_request ON engagements (request_id) WHERE closed_at IS NULL;
CREATE INDEX engagements_by_provider ON engagements ((provider->>'provider_id'), status);

-- Who changed what, when and why.
CREATE TABLE audit_trail (
    id            bigserial PRIMARY KEY,
    engagement_id uuid NOT NULL REFERENCES engagements (engagement_id),
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    action        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}',
    reason        text
);
CREATE INDEX audit_trail_by_engagement ON audit_trail (engagement_id, id);
