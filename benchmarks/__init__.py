"""Benchmarks of the whole pipeline against a bare Kafka relay (the ceiling) and a naive one-at-a-time relay."""
