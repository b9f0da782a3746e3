"""The tooling that knows the whole system: the embedded stack, the `cri` command line, ops clients and the
AsyncAPI documents. Services never import it."""
