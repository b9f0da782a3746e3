"""Engagements: tracks each engagement from opening to close, with its milestones and deadlines."""
