"""Cases booted in a shim's fork server, one child per case."""
