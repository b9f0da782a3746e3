-- Each request as submitted (RequestSubmitted on cri.requests): the provider of its engagement must read what it
-- was asked to do (domain/disclosure.py decides how much), and the dashboard counts requests per week. `queue`
-- says where a request waits for routing's decision (RequestNeedsReview: staff review; RequestQueued: a provider
-- with room), until it is routed or withdrawn.
CREATE TABLE requests (
    request_id   uuid PRIMARY KEY,
    submitted_at timestamptz NOT NULL,
    request      jsonb NOT NULL,
    queue        text CHECK (queue IN ('review', 'waiting')),
    queued_since timestamptz,
    queue_reason text
);
CREATE INDEX requests_by_week ON requests (submitted_at);
CREATE INDEX requests_waiting ON requests (queue, queued_since) WHERE queue IS NOT NULL;

-- Routing may flag a request confidential that the agency did not (RequestRouted.confidential).
ALTER TABLE engagements ADD COLUMN confidential boolean NOT NULL DEFAULT false;
