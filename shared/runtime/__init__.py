"""The runtime plumbing every service imports: settings, database and broker clients, outbox, inbox and batch
consumer, service lifecycle, HTTP authentication, tracing and metrics. It knows no service."""
