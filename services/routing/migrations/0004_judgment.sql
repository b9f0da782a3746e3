-- What routing remembers of an agency: each request's agency as intake recognises it (its ORI, else its name,
-- lower case with single spaces, within its state), so a decision can read the agency's earlier requests that
-- reached Critical Response or Organizational Assessment (the ones the policy's history rules read).
ALTER TABLE requests ADD COLUMN agency_key text;
UPDATE requests SET agency_key = CASE
    WHEN request->'agency'->>'ori' IS NOT NULL THEN 'ori:' || (request->'agency'->>'ori')
    ELSE 'name:' || (request->'agency'->>'state') || ':'
        || btrim(regexp_replace(lower(request->'agency'->>'name'), '\s+', ' ', 'g'))
END;
ALTER TABLE requests ALTER COLUMN agency_key SET NOT NULL;
CREATE INDEX requests_on_the_continuum ON requests (agency_key)
    WHERE tier IN ('critical_response', 'organizational_assessment');

-- Each engagement's tier, dates, escalation and outcome, from the engagement events (engagements opened before
-- this migration have no tier or date: the history starts with this version).
ALTER TABLE engagement_places
    ADD COLUMN tier text,
    ADD COLUMN opened_at timestamptz,
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN outcome text,
    ADD COLUMN escalated_at timestamptz,
    ADD COLUMN escalated_to text;

-- When each provider was last given a request: ties between equals go to the one waiting longest.
ALTER TABLE providers ADD COLUMN last_assigned_at timestamptz;

-- The loads a decision was made against (each provider's active, assigned_total, last_assigned_at), so the
-- what-if replay judges a past request against the loads of its time. NULL for decisions made before.
ALTER TABLE decisions ADD COLUMN loads jsonb;
