"""Intake: accepts requests for assistance over HTTP and Kafka, durably, once.

- `settings`: its settings (`CRI_*` environment variables).
- `app`: wiring: the runtime, the consumed topics, routes, background tasks.
- `domain/`: pure rules: what a submission is and when two are one (`submissions`), how the downstream events
  intake follows move a request's status (`status`).
- `commands`: the use cases; every state change and every event intake emits (RequestSubmitted,
  SubmissionRejected) is built there. Any edge calls them: the JSON API, the inbound topic, an HTML form.
- `handlers`: a followed event, or a record of the inbound topic, mapped to its command.
- `api`: the JSON API: a call mapped to a command or a read, the command's exceptions to status codes.
- `group_commit`: the HTTP edge's way to the submit command: submissions that arrive together share one
  transaction.
- `limits`: HTTP bodies refused before they are parsed (413 too large, 415 not JSON).
- `store`: SQL only; typed rows.
- `workers`: background loops (expired idempotency keys deleted).
"""

SERVICE = "intake"  # its schema, the source of its events, its consumer groups and logs
