"""The prior-authorization case service: HTTP API, database, workflow, audit, clocks."""
