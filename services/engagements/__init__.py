"""Engagements: tracks each engagement from opening to close, with its milestones and deadlines.

- `settings`: `CRI_*` configuration (the deadlines file, the deadline day, scan and dashboard intervals)
- `app`: wiring: the runtime, the handler of routed requests, the routes, the deadline scan
- `domain/`: pure rules: `lifecycle` (milestones, closing, escalation), `recommendations` (an assessment's
  recommendations), `deadlines` (the deadlines policy, read at start, and its clock)
- `commands`: the use cases: open, record a milestone, close, escalate, fire missed deadlines, add and move
  recommendations; every event the service publishes (each change followed by a snapshot) is built here; they
  take the store behind a `Protocol` (an in-memory one in unit tests) and the unit of work as their outbox
- `handlers`: a routed request to the command that opens its engagement
- `api`: the `/v1/engagements` JSON API: list and read engagements, milestones, escalation, closure, recommendations
- `dashboard_api`: the staff dashboard over HTTP: its sign-in, page (static/), server-sent events and figures
- `workers`: the deadline scan, for the life of the service
- `store`: SQL only: `PostgresStore` and its typed rows (engagements, audit trail, deadlines, recommendations, the
  dashboard's figures)
"""

SERVICE = "engagements"  # schema, event source, consumer group, logs
