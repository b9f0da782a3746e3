"""Intake: accepts requests for assistance over HTTP and Kafka, durably, once."""
