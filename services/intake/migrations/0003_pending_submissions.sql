-- Requests sent by the public form by someone not signed in: held here, seen by no other service, until the
-- contact opens the emailed link (only the SHA-256 of its token is kept); then accepted like any other request
-- (request_id set). Rows past expires_at are deleted by the retention worker.
CREATE TABLE pending_submissions (
    pending_id   uuid PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE,
    body         jsonb NOT NULL,
    email        text NOT NULL,  -- the contact address in lower case: the per-address limit counts it
    client       text NOT NULL,  -- the sender's network address: the per-client limit counts it
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    request_id   uuid
);
CREATE INDEX pending_submissions_by_email ON pending_submissions (email, created_at);
CREATE INDEX pending_submissions_by_client ON pending_submissions (client, created_at);
CREATE INDEX pending_submissions_expiry ON pending_submissions (expires_at);

-- "My requests": every request of an agency, newest first.
CREATE INDEX requests_by_agency ON requests (agency_key, submitted_at DESC);
