-- A request moved along the continuum by an escalation keeps its tier and its link to the engagement it
-- came from, also while it waits in the queue.
ALTER TABLE requests ADD COLUMN escalated_from uuid;
