"""Running the line as a service: draining for a restart, readiness, the server process, tracing."""
