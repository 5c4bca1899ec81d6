"""Twilio: who may open a media stream, its handshake and serializer, caller ID and call limits, the REST API,
SMS and the transfer to staff."""
