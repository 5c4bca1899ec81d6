"""What a caller's number is worth: caller ID as Twilio gives it, its STIR/SHAKEN attestation, and logs without it.

Caller ID is whatever the calling network put in ``From``, and it can be spoofed.
For US calls Twilio passes the call's STIR/SHAKEN verification in the voice
webhook's ``StirVerstat``: only full attestation ("A": the originating carrier
knows the caller and that they may use the number) makes the number proof of
who is calling (see docs/security.md).
"""

from __future__ import annotations

import re

from loguru import logger

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# StirVerstat of a call whose number passed verification with full attestation.
FULL_ATTESTATION = "TN-Validation-Passed-A"
# Every E.164 number in a log line (call SIDs, dates and times have no leading '+').
_NUMBERS_IN_TEXT = re.compile(r"\+[1-9]\d{6,14}")


def phone_number(value: str | None) -> str | None:
    """The caller's number in E.164 form, or None for a withheld or unusable one.

    Twilio sends "anonymous", "restricted" and the like for a withheld number:
    taken as a number, every withheld caller would share one caller ID and find
    each other's bookings.
    """
    value = (value or "").strip()
    return value if E164.match(value) else None


def caller_id_verified(stir_verstat: str | None) -> bool:
    return stir_verstat == FULL_ATTESTATION


def masked(number: str | None) -> str:
    """A number as logs show it: its last four digits only ("+*******0001")."""
    if not number:
        return "withheld"
    return number[0] + "*" * (len(number) - 5) + number[-4:] if len(number) > 5 else "*" * len(number)


def mask_numbers(text: str) -> str:
    return _NUMBERS_IN_TEXT.sub(lambda match: masked(match.group()), text)


def mask_numbers_in_logs() -> None:
    """Mask every phone number in every log message, whichever module (or library) logs it."""

    def patch(record) -> None:
        record["message"] = mask_numbers(record["message"])

    logger.configure(patcher=patch)
