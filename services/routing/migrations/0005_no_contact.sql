-- Routing decides without the agency's contact person (RequestReceived does not carry it): the contact of the
-- requests kept from RequestSubmitted events is dropped, not kept where nothing reads it.
UPDATE requests SET request = request - 'contact' WHERE request ? 'contact';
