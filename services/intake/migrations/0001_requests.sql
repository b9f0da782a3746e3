CREATE TABLE requests (
    request_id       uuid PRIMARY KEY,
    submitted_at     timestamptz NOT NULL,
    channel          text NOT NULL,
    agency_key       text NOT NULL,
    client_reference text,
    body             jsonb NOT NULL,
    status           text NOT NULL,
    tier             text,
    provider_id      text,
    provider_name    text,
    engagement_id    uuid,
    updated_at       timestamptz NOT NULL
);
-- The same agency submitting the same client reference twice is one request.
CREATE UNIQUE INDEX requests_agency_reference ON requests (agency_key, client_reference)
    WHERE client_reference IS NOT NULL;

CREATE TABLE request_timeline (
    event_id   uuid PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES requests (request_id),
    at         timestamptz NOT NULL,
    status     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX request_timeline_by_request ON request_timeline (request_id, at);

CREATE TABLE idempotency_keys (
    key          text PRIMARY KEY,
    body_sha256  bytea NOT NULL,
    request_id   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
