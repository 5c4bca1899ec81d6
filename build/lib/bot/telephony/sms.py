"""Text a booking confirmation to the caller through Twilio's Messages API.

Used when the line could not speak (no text-to-speech worked, see
bot/services/prompt_tts.py): the booking the call made is texted to the caller's
number from ``BOT_SMS_FROM``, in the business file's ``sms_confirmation``
words. Needs Twilio credentials; every outcome is noted in the call's fault
report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loguru import logger
from twilio.base.exceptions import TwilioException

from bot.telephony.rest import rest_client

if TYPE_CHECKING:  # settings import this module before Pipecat is loaded
    from bot.call.context import CallContext


@dataclass(frozen=True)
class ConfirmationTexter:
    from_number: str
    account_sid: str
    auth_token: str
    api_base_url: str | None = None

    def send(self, to: str, body: str) -> str:
        """Send one SMS; its message SID. Raises TwilioException or OSError if Twilio would not."""
        client = rest_client(self.account_sid, self.auth_token, self.api_base_url)
        return client.messages.create(to=to, from_=self.from_number, body=body).sid


async def text_confirmations(call: CallContext, texter: ConfirmationTexter, faults) -> int:
    """Text the caller each booking this call made or changed; how many were sent. ``faults`` is a FaultLog."""
    from bot.booking.tools import describe

    if not call.caller or not call.business.sms_confirmation:
        return 0
    sent = 0
    for booking in call.store.bookings_of_call(call.call_sid):
        body = call.business.sms_confirmation.format(
            business=call.business.name, booking=describe(booking.as_expected(), call), code=booking.code
        )
        try:
            sid = await asyncio.to_thread(texter.send, call.caller, body)
        except (TwilioException, OSError) as e:
            faults.record("confirmation", "voice", "no text-to-speech worked", f"none: SMS failed ({e})")
            continue
        logger.info(f"{call.call_sid}: texted confirmation {booking.code} to {call.caller} ({sid})")
        faults.record("confirmation", "voice", "no text-to-speech worked", f"sms {sid} to {call.caller}")
        sent += 1
    return sent
