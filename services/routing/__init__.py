"""Routing: gives each request for assistance a tier and a provider, by a versioned policy."""
