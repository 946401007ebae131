"""From a source to the code a shim needs: C cut into items, the API
generation detected, the items each scenario reaches followed."""
