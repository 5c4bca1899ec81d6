"""The phone booking voice bot."""
