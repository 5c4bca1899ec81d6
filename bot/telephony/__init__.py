"""Twilio: the media stream's handshake and serializer, the REST API, SMS and the transfer to staff."""
