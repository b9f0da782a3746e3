"""Engagements: tracks each engagement from opening to close, with its milestones and deadlines; the provider
workspace and the staff dashboard are its pages.

- `settings`: `CRI_*` configuration (the deadlines file, the deadline day, scan and dashboard intervals)
- `app`: wiring: the runtime, the handlers of cri.requests, the routes and pages, the deadline scan
- `domain/`: pure rules: `lifecycle` (milestones, closing, escalation), `recommendations` (an assessment's
  recommendations), `deadlines` (the deadlines policy, read at start, and its clock), `disclosure` (what of a
  request each reader of its engagement may see: the confidentiality rule), `workspace` (what the workspace's
  pages offer: milestone buttons, outcomes, recommendation moves, words, deadlines), `dashboard` (the
  dashboard's chart geometry: weekly columns with labels that never overlap, provider bars)
- `commands`: the use cases: keep a submitted request and where it waits for routing, open, record a milestone,
  close, escalate, fire missed deadlines, add and move recommendations, each in the name of the caller's
  principal; every event the service publishes (each change followed by a snapshot) is built here; they take the
  store behind a `Protocol` (an in-memory one in unit tests) and the unit of work as their outbox
- `handlers`: each followed event of cri.requests to its command (submitted, in review, queued, routed, withdrawn)
- `api`: the `/v1/engagements` JSON API: list and read engagements, milestones, escalation, closure, recommendations
- `pages`: the provider workspace for people (templates/): my engagements, an engagement's page and its forms
- `dashboard_api`: the staff dashboard over HTTP: its key sign-in, page (templates/, static/dashboard.js),
  server-sent events and figures
- `workers`: the deadline scan, for the life of the service
- `store`: SQL only: `PostgresStore` and its typed rows (engagements, audit trail, deadlines, recommendations,
  requests as submitted, the dashboard's figures)
"""

SERVICE = "engagements"  # schema, event source, consumer group, logs
