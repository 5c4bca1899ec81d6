"""Hand a live call to a member of staff through Twilio's REST API.

Redirecting the call to ``<Dial>`` ends its media stream (and so the bot's
pipeline); Twilio then rings the staff number. Used when the caller asks for
a person and ``BOT_TRANSFER_NUMBER`` and Twilio credentials are set; without
them, or if Twilio refuses, the flow takes a message instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from bot.telephony.rest import rest_client


@dataclass(frozen=True)
class StaffTransfer:
    number: str
    account_sid: str
    auth_token: str
    api_base_url: str | None = None

    def twiml(self) -> str:
        response = VoiceResponse()
        response.say("Putting you through now.")
        response.dial(self.number)
        return str(response)

    def transfer(self, call_sid: str) -> bool:
        """Redirect the call to the staff number; False (and logged) if Twilio would not."""
        try:
            rest_client(self.account_sid, self.auth_token, self.api_base_url).calls(call_sid).update(twiml=self.twiml())
        except (TwilioException, OSError) as e:
            logger.warning(f"{call_sid}: transfer to staff failed, taking a message instead: {e}")
            return False
        logger.info(f"{call_sid}: transferred to staff at {self.number}")
        return True
