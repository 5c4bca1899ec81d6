"""Measuring the line: the latency bench and the load test."""
