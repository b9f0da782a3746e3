-- The contact person of each request, kept apart from the request (RequestContactGiven, on the restricted topic
-- cri.requests.contacts): shown to staff, and to the provider while the engagement is open (domain/disclosure.py).
CREATE TABLE request_contacts (
    request_id uuid PRIMARY KEY,
    contact    jsonb NOT NULL
);

-- Requests kept from RequestSubmitted events carried the contact inside the request: moved here.
INSERT INTO request_contacts (request_id, contact)
    SELECT request_id, request->'contact' FROM requests WHERE request ? 'contact'
    ON CONFLICT (request_id) DO NOTHING;
UPDATE requests SET request = request - 'contact' WHERE request ? 'contact';
