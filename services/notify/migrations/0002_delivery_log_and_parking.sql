-- The delivery log is read newest first, by recipient address in any case, or whole. Deliveries recorded in one
-- batch share a transaction: the clock, not the transaction start, orders them.
ALTER TABLE deliveries ALTER COLUMN created_at SET DEFAULT clock_timestamp();
DROP INDEX deliveries_by_address;
CREATE INDEX deliveries_by_recipient ON deliveries (lower(address), created_at DESC);
CREATE INDEX deliveries_newest ON deliveries (created_at DESC);

-- Events about a request notify has not heard of yet (an engagement event overtaking the request's
-- RequestSubmitted on another topic) wait here for it: planned without the request, nobody could be addressed.
CREATE TABLE parked_events (
    event_id   uuid PRIMARY KEY,
    request_id uuid NOT NULL,
    envelope   jsonb NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX parked_events_by_request ON parked_events (request_id, parked_at);
