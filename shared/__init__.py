"""What services import at run time, in two layers: `contract` (event envelope, versioned event models, Kafka
topics, program vocabularies, published schemas) and `runtime` (the delivery plumbing and service lifecycle).
It imports no service; the tooling that runs the whole system lives in `system`."""
