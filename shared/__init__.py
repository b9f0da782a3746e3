"""The contract (event envelope, event models, topic catalog) and delivery plumbing shared by every service."""
