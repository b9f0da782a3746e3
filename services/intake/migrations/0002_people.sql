-- People's sign-in (docs/security.md): links and sessions are found by the SHA-256 of their token; the token
-- itself is never stored.
CREATE TABLE signin_links (
    token_sha256 bytea PRIMARY KEY,
    link_id      uuid NOT NULL UNIQUE,
    email        text NOT NULL,
    next_path    text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX signin_links_expiry ON signin_links (expires_at);

CREATE TABLE sessions (
    token_sha256 bytea PRIMARY KEY,
    role         text NOT NULL,
    subject      text NOT NULL,
    email        text NOT NULL,
    name         text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Asks for a link that were let through, for the rate limits: per address (its SHA-256) and per client.
CREATE TABLE signin_grants (
    scope text NOT NULL,
    key   text NOT NULL,
    at    timestamptz NOT NULL
);
CREATE INDEX signin_grants_by_key ON signin_grants (scope, key, at);

-- Providers' program mailboxes, learnt from the RequestRouted events intake follows.
CREATE TABLE provider_contacts (
    provider_id text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX provider_contacts_by_email ON provider_contacts (email);

-- An agency person is the contact of their agency's requests.
CREATE INDEX requests_by_contact_email ON requests (lower(body->'contact'->>'email'), submitted_at DESC);
