"""One phone call: its pipeline, its context, its worker, and resuming it when the stream drops."""
