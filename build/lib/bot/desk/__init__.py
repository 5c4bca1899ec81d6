"""Trying the line at the developer's desk: typed chat, the local microphone, saving scenarios."""
