"""The one source of truth for what crosses a service boundary: envelope, events, topics."""
