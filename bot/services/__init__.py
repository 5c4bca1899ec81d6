"""Speech and language services: the embedded offline engines and the cloud providers."""
