"""One module per API generation, each defining SPEC (harness.core.generation)."""
