-- The recommendations of an Organizational Assessment, and every status each one went through.
CREATE TABLE recommendations (
    recommendation_id uuid PRIMARY KEY,
    engagement_id     uuid NOT NULL REFERENCES engagements (engagement_id),
    text              text NOT NULL,
    status            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recommendations_by_engagement ON recommendations (engagement_id, created_at);

CREATE TABLE recommendation_history (
    id                bigserial PRIMARY KEY,
    recommendation_id uuid NOT NULL REFERENCES recommendations (recommendation_id),
    status            text NOT NULL,
    at                timestamptz NOT NULL DEFAULT now(),
    changed_by        text NOT NULL,
    note              text
);
CREATE INDEX recommendation_history_by_recommendation ON recommendation_history (recommendation_id, id);
