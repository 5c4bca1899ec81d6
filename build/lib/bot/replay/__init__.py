"""Replaying recorded calls through the whole stack: scenarios, a simulated Twilio caller, reports."""
