"""Routing: gives each request for assistance a tier and a provider, by a versioned policy, within capacity.

__main__.py   start the service (logging, HTTP server)
settings.py   its configuration (CRI_* environment variables)
app.py        wiring: the policy and registry read at start, the runtime, event handlers, staff API
domain/       pure policy and decisions, one concern a module (its __init__ lists them)
commands.py   the use cases: every decision recorded and every event published is built there
handlers.py   each consumed event to one command
api.py        the staff HTTP API: an override command, the decision history and registry reads
pages.py      the staff pages: triage queue, a request with its decision record and assignment form, registry
templates/    their Jinja2 templates (over shared/runtime/web's layout and form macros)
store.py      SQL, returning typed rows
workers.py    the background sweep: requests waiting for a place beyond the policy's maximum go to staff
replay.py     the what-if command line and policy report (`python -m services.routing.replay`)
"""

SERVICE = "routing"
