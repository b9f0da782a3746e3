-- Whom to write to about a request (its contact person's name, title and email; not the phone), from
-- RequestContactGiven on the restricted topic cri.requests.contacts. The request's description (request_facts)
-- comes from RequestReceived on cri.requests: a request is on record once both have come, in either order.
CREATE TABLE request_contacts (
    request_id uuid PRIMARY KEY,
    addressee  jsonb NOT NULL
);

-- Requests remembered from RequestSubmitted events kept the addressee among their facts: moved here.
INSERT INTO request_contacts (request_id, addressee)
    SELECT request_id, jsonb_build_object(
        'contact_name', facts->'contact_name',
        'contact_title', facts->'contact_title',
        'contact_email', facts->'contact_email')
    FROM request_facts WHERE facts ? 'contact_email'
    ON CONFLICT (request_id) DO NOTHING;
UPDATE request_facts SET facts = facts - 'contact_name' - 'contact_title' - 'contact_email'
    WHERE facts ? 'contact_email';
