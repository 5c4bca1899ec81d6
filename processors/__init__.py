"""Our own pipeline processors and observers: call transcript, latency, fallbacks."""
