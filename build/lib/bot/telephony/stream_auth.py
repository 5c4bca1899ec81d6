"""Who may open the media websocket: Twilio's signature on the upgrade request, and a one-time stream token.

Twilio signs the websocket's upgrade request (``X-Twilio-Signature``) over the
stream's URL alone, and that URL is the same for every call: a signature proves
Twilio opened *a* stream, not which call it carries or who is calling. So the
signed voice webhook, when it lets a call in, issues a token bound to the call
SID and to the webhook's own ``From`` and ``StirVerstat``, and puts it in the
TwiML's ``<Parameter>``s; the stream must present it, once, before the token
expires with the call's admission. Who is calling comes from that token, never
from the stream itself.

Without ``TWILIO_AUTH_TOKEN`` only loopback may open a stream (the replay
harness, the load test, a developer's own caller), and a stream without a
token says who is calling in its ``caller`` and ``StirVerstat`` parameters.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import WebSocket
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from bot.booking.store import BookingStore
from bot.telephony.caller_id import caller_id_verified, phone_number
from bot.telephony.media_stream import StreamStart

MEDIA_PATH = "/twilio/media"
STREAM_TOKEN_PARAMETER = "stream_token"
# What a stream without a token (loopback, no TWILIO_AUTH_TOKEN) says about its caller: the webhook's names.
CALLER_PARAMETER = "caller"
VERSTAT_PARAMETER = "StirVerstat"


class StreamRefused(Exception):
    """A media stream that may not carry a call; ``reason`` is its metric label."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Admission:
    """Who a stream's call is from: the caller's number (None: withheld) and whether the network vouched for it."""

    caller: str | None
    caller_verified: bool


def _admission(caller: str | None, stir_verstat: str | None) -> Admission:
    caller = phone_number(caller)
    return Admission(caller, caller is not None and caller_id_verified(stir_verstat))


def stream_url(base: str) -> str:
    """The media websocket's address on a server reached at ``base`` ("https://host" -> "wss://host/twilio/media")."""
    for web, socket in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(web):
            base = socket + base.removeprefix(web)
    return base + MEDIA_PATH


def signed_by_twilio(websocket: WebSocket, public_url: str | None, auth_token: str) -> bool:
    """Whether the upgrade request carries Twilio's signature over the stream URL our TwiML gave it."""
    signature = websocket.headers.get(SIGNATURE_HEADER, "")
    base = public_url or f"{websocket.url.scheme}://{websocket.url.netloc}"
    return bool(signature) and RequestValidator(auth_token).validate(stream_url(base), {}, signature)


async def issue_stream_token(
    store: BookingStore, call_sid: str, caller: str | None, stir_verstat: str | None, ttl_secs: float
) -> str:
    """A token the call's media stream must present within ``ttl_secs``; it says who the signed webhook saw calling."""
    token = secrets.token_urlsafe(32)
    await store.run(store.add_stream_token, token, call_sid, caller, stir_verstat, ttl_secs)
    return token


async def admit_stream(store: BookingStore, start: StreamStart, *, token_required: bool) -> Admission:
    """Who the stream's call is from, or :class:`StreamRefused`. A token is used up by the first stream showing it."""
    params = start.custom_parameters
    token = params.get(STREAM_TOKEN_PARAMETER)
    if token is None:
        if token_required:
            raise StreamRefused("stream_token", f"{start.call_sid}: no stream token")
        return _admission(params.get(CALLER_PARAMETER), params.get(VERSTAT_PARAMETER))
    # Our TwiML never names the caller: a stream that does was not opened from it.
    if claimed := sorted({CALLER_PARAMETER, VERSTAT_PARAMETER} & set(params)):
        raise StreamRefused("stream_caller_parameter",
                            f"{start.call_sid}: the stream names its own caller ({', '.join(claimed)})")
    admitted = await store.run(store.take_stream_token, token, start.call_sid)
    if admitted is None:
        raise StreamRefused("stream_token",
                            f"{start.call_sid}: its stream token is unknown, used, expired or another call's")
    return _admission(admitted["caller"], admitted["stir_verstat"])
