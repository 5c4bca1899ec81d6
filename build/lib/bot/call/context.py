"""What one call knows about itself: who is calling, its clock, the store it books into."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.booking.business import Business
from bot.booking.store import BookingStore
from bot.telephony.transfer import StaffTransfer

if TYPE_CHECKING:
    from processors.voicemail import VoicemailRecorder

# Flow state keys starting with "_" hold live objects, not conversation data.
CALL_STATE_KEY = "_call"


@dataclass
class CallContext:
    call_sid: str
    caller: str | None
    store: BookingStore
    clock: Callable[[], dt.datetime] = field(default=dt.datetime.now)
    transfer: StaffTransfer | None = None  # set when calls may be put through to staff
    voicemail: VoicemailRecorder | None = None  # the call's recorder, when the flow may take a voicemail
    # Caller ID can be spoofed: only a number the network vouched for (STIR/SHAKEN "A") finds bookings by itself.
    caller_verified: bool = False
    # New bookings one number may make in 24 hours (0: no limit; BOT_BOOKINGS_PER_NUMBER_PER_DAY).
    bookings_per_number: int = 0
    # Held while a booking is being written: a second "yes" meanwhile waits for it rather than book again.
    confirming: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def business(self) -> Business:
        return self.store.business

    def now(self) -> dt.datetime:
        return self.clock()


def fixed_clock(start: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that starts at ``start`` and runs at real speed (for replayed calls)."""
    offset = start - dt.datetime.now()
    return lambda: dt.datetime.now() + offset
