"""Notify's domain: who hears what, what each may read, in which words, and how deliveries are identified, signed
and retried. Pure: no database, broker, network or file reading at import."""
