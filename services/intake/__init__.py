"""Intake: accepts requests for assistance over HTTP and Kafka, durably, once.

- `settings`: its settings (`CRI_*` environment variables).
- `app`: wiring: the runtime, the consumed topics, routes, background tasks.
- `domain/`: pure rules: what a submission is and when two are one (`submissions`), how the downstream events
  intake follows move a request's status (`status`), who an address signs in as and the rate limits of
  sign-in links (`signin`), the public request form's fields and words (`request_form`), an agency's requests in
  plain words and when one may be withdrawn (`agency_requests`).
- `commands`: the use cases; every state change and every event intake emits (RequestReceived,
  RequestContactGiven, SubmissionRejected, SignInLinkRequested, SubmissionConfirmationRequested,
  RequestWithdrawn) is built there. Any edge calls them: the JSON API, the inbound topic, an HTML form.
- `handlers`: a followed event, or a record of the inbound topic, mapped to its command.
- `api`: the JSON API: a call mapped to a command or a read, the command's exceptions to status codes.
- `group_commit`: the HTTP edge's way to the submit command: submissions that arrive together share one
  transaction.
- `sign_in`: people's sign-in over HTTP: the pages (ask for a link, open it, the signed-in page, sign out) and
  the session introspection API for the other services.
- `request_pages`: agencies' pages: the public request form, its confirmation by emailed link, my requests,
  withdrawal.
- `engagements`: the edge to the engagements service: an assessment's recommendations, read over its API.
- `limits`: JSON API bodies refused before they are parsed (413 too large, 415 not JSON).
- `store`: SQL only; typed rows.
- `workers`: background loops (expired idempotency keys and form requests, ended sessions and spent sign-in links
  deleted).
"""

SERVICE = "intake"  # its schema, the source of its events, its consumer groups and logs
