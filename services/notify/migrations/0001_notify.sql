-- What notify remembers of each request to address later messages (from RequestSubmitted).
CREATE TABLE request_facts (
    request_id uuid PRIMARY KEY,
    facts      jsonb NOT NULL
);

-- Exactly one delivery per (event, recipient, channel): the delivery id is derived from the three.
CREATE TABLE deliveries (
    delivery_id      uuid PRIMARY KEY,
    cause_event_id   uuid NOT NULL,
    cause_event_type text NOT NULL,
    correlation_id   text NOT NULL,
    request_id       uuid,
    engagement_id    uuid,
    kind             text NOT NULL,
    role             text NOT NULL,
    channel          text NOT NULL,
    address          text,
    plan             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_request ON deliveries (request_id);
CREATE INDEX deliveries_by_address ON deliveries (address);
