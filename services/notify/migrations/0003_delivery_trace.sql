-- The trace context of the work that planned a delivery, so its sending (later, by the dispatcher, maybe in
-- another replica) is a span of the same trace.
ALTER TABLE deliveries ADD COLUMN trace_headers jsonb NOT NULL DEFAULT '{}';
