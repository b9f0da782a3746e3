"""Real servers started by the project when none is configured: PostgreSQL, a Kafka-protocol broker."""
