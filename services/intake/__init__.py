"""Intake: accepts requests for assistance over HTTP and Kafka, durably, once.

- `settings`: the service's settings (`CRI_*` environment variables).
- `app`: wiring: the runtime, handlers, routes, background tasks.
- `domain/`: pure rules: what a submission is (`submissions`), how downstream events move a status (`status`).
- `api`: the JSON API: submit a request, read its status.
- `limits`: HTTP-side refusals before a body is parsed (size 413, content type 415).
- `group_commit`: HTTP submissions that arrive together recorded in one transaction.
- `inbound`: records of the inbound topic accepted as if posted, or rejected.
- `retention`: expired idempotency keys deleted in the background.
- `store`: SQL only.
"""

SERVICE = "intake"  # schema, event source, consumer groups, logs
