"""A phone call as Twilio carries it, TwiML and all: for the tests of the deployment and of restarts.

Twilio rings the voice webhook and does what the TwiML says: ``<Connect><Stream>``
opens the media stream at the stream's URL with its ``<Parameter>``s; when that
stream closes, for whatever reason, Twilio goes on to the next verb, and our
``<Redirect>`` rings the webhook again (that is how a dropped or handed-over
call comes back, wherever the load balancer sends it); ``<Say>`` and
``<Hangup/>`` end the call. On whichever stream is open the caller speaks the
scenario's turns, and says a turn again when its stream closed before the bot
answered it. ``post`` is who carries each webhook request: by default straight
to the URL, in a test of several servers a stand-in for the load balancer.
"""

from __future__ import annotations

import ssl as ssl_module
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from loguru import logger
from websockets.exceptions import InvalidHandshake

from bot.audio import load_phone_audio
from bot.replay.caller import LINE_NUMBER, TwilioCaller, new_sid
from bot.replay.scenario import Scenario

WebhookPost = Callable[[str, dict[str, str]], Awaitable[str]]  # (url, form) -> the TwiML answered
BOT_TURN_SECS = 30.0
# The caller waits this long after the bot goes quiet before speaking: a little longer than a replay's, as a
# resumed call's apology and question may come with a pause between them on a busy machine.
QUIET_SECS = 2.0
HANG_UP_SECS = 20.0
MAX_WEBHOOKS = 12  # a call that keeps coming back more than this is going round in circles


@dataclass
class TwilioCallResult:
    call_sid: str
    webhooks: list[str] = field(default_factory=list)  # each URL the webhook was rung at
    streams: int = 0  # media streams opened: more than one, the call moved (a drop, a restart)
    turns_said: int = 0  # the scenario's turns the bot answered
    ended: str = ""  # "hangup" (the call was over), "busy" (turned away in words), or what went wrong
    errors: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.ended == "hangup"


def webhook_poster(ssl: ssl_module.SSLContext | None = None) -> WebhookPost:
    """Webhook requests straight to their URL (through a proxy, if that is the URL)."""

    async def post(url: str, form: dict[str, str]) -> str:
        tls = ssl if ssl is not None else True
        async with aiohttp.ClientSession() as session, session.post(url, data=form, ssl=tls) as answer:
            answer.raise_for_status()
            return await answer.text()

    return post


class TwilioCall:
    def __init__(
        self,
        scenario: Scenario,
        webhook_url: str,
        *,
        post: WebhookPost | None = None,
        ssl: ssl_module.SSLContext | None = None,
        call_sid: str | None = None,
    ):
        self.scenario = scenario
        self.webhook_url = webhook_url
        self.post = post or webhook_poster(ssl)
        self.ssl = ssl
        self.call_sid = call_sid or new_sid("CA")
        self.account_sid = new_sid("AC")
        self._next_turn = 0

    def _form(self, status: str) -> dict[str, str]:
        return {
            "CallSid": self.call_sid, "AccountSid": self.account_sid, "From": self.scenario.caller or "anonymous",
            "To": LINE_NUMBER, "Direction": "inbound", "CallStatus": status,
        }

    async def run(self) -> TwilioCallResult:
        result = TwilioCallResult(self.call_sid)
        url, status = self.webhook_url, "ringing"
        for _ in range(MAX_WEBHOOKS):
            result.webhooks.append(url)
            try:
                twiml = ET.fromstring(await self.post(url, self._form(status)))
            except (aiohttp.ClientError, OSError, ET.ParseError) as e:
                result.ended = f"the webhook failed: {e}"
                return result
            status = "in-progress"
            stream = twiml.find("./Connect/Stream")
            if stream is not None:
                result.streams += 1
                parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
                if not await self._speak_on(stream.get("url"), parameters, result):
                    return result
            elif twiml.find("Say") is not None:
                result.ended = "busy"
                return result
            elif twiml.find("Hangup") is not None:
                result.ended = "hangup"
                return result
            redirect = twiml.find("Redirect")
            if redirect is None:
                result.ended = f"TwiML with nothing after the stream: {[verb.tag for verb in twiml]}"
                return result
            url = (redirect.text or "").strip()
        result.ended = f"the webhook was rung {MAX_WEBHOOKS} times"
        return result

    async def _speak_on(self, url: str, parameters: dict[str, str], result: TwilioCallResult) -> bool:
        """Speak the turns left while this stream is open; False when the caller gives up (the bot went silent)."""
        turns = self.scenario.turns
        now = {"now": self.scenario.now.isoformat()} if self.scenario.now else {}
        caller = TwilioCaller(
            url, call_sid=self.call_sid, stream_parameters=parameters, custom_parameters=now, ssl=self.ssl
        )
        try:
            async with caller:
                await caller.wait_for_bot(since=0.0, quiet_secs=QUIET_SECS, timeout=BOT_TURN_SECS)
                while self._next_turn < len(turns) and not caller.closed.is_set():
                    speech_end = await caller.say(load_phone_audio(turns[self._next_turn].audio))
                    if caller.closed.is_set():  # cut while speaking: said again on the next stream
                        break
                    answered = await caller.wait_for_bot(since=speech_end, quiet_secs=QUIET_SECS, timeout=BOT_TURN_SECS)
                    if answered is None:
                        if caller.closed.is_set():  # the stream closed before the bot answered: again
                            break
                        result.ended = f"the bot said nothing after turn {self._next_turn + 1}"
                        return False
                    self._next_turn += 1
                    result.turns_said = self._next_turn
                if self._next_turn == len(turns) and not caller.closed.is_set():
                    await caller.wait_for_hang_up(HANG_UP_SECS)
                if not caller.closed.is_set():  # the caller hangs up: Twilio follows no <Redirect> then
                    result.ended = "the bot did not end the call: the caller hung up"
                    return False
        except (OSError, TimeoutError, InvalidHandshake) as e:  # the server went away between webhook and stream
            result.errors.append(f"stream {result.streams}: {type(e).__name__}: {e}")
            logger.info(f"{self.call_sid}: its stream {result.streams} did not open: {e}")
        return True
