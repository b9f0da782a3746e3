"""Notify: tells agencies, providers and program staff what happened to a request, by email and webhook.

- `app`: wiring: the runtime, the handlers, the dispatcher and the sweep of parked events, the routes
- `settings`: `CRI_*` configuration
- `handlers`: each consumed event to its command
- `commands`: remember requests, record who hears of each event (parking events that overtake their request),
  attempt a delivery, settle a batch (NotificationSent, NotificationFailed, dead letters)
- `workers`: the dispatcher and the sweep of parked events, for the life of the service
- `store`: SQL: request facts, parked events, deliveries and their claiming, the delivery log
- `api`: the delivery log over HTTP
- `channels`: the edge to receivers: email over SMTP and signed webhooks over HTTP, failures classified
- `smtp`: the SMTP sessions kept open and reused
- `domain/`: pure: `recipients`, `request_facts`, `kinds` (message kinds), `preferences` (and their file),
  `planning` (who hears what), `confidentiality` (what each may read), `rendering` (templates/), `webhooks`
  (the body), `signatures` (HMAC), `deliveries` (ids, failures, the log entry), `retries` (when to try again)
"""

SERVICE = "notify"
