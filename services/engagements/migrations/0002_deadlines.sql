-- Set when a deadline of the engagement was missed; cleared by its next milestone or its close.
ALTER TABLE engagements ADD COLUMN overdue boolean NOT NULL DEFAULT false;
CREATE INDEX engagements_by_tier_status ON engagements (tier, status);

-- The next milestone due of each open engagement; fired rows stay as the record of missed deadlines.
CREATE TABLE deadlines (
    id            bigserial PRIMARY KEY,
    engagement_id uuid NOT NULL REFERENCES engagements (engagement_id),
    milestone     text NOT NULL,
    due_at        timestamptz NOT NULL,
    fired_at      timestamptz
);
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE fired_at IS NULL;
CREATE INDEX deadlines_by_engagement ON deadlines (engagement_id);
