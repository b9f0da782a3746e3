"""Engagements' rules, pure and split by concern: `lifecycle` (milestones and closing), `recommendations` (an
assessment's recommendations), `deadlines` (the deadlines policy and its clock)."""
