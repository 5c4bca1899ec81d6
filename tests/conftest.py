import datetime as dt
from pathlib import Path

import pytest

from bot.business import Business
from bot.store import BookingStore

PROJECT = Path(__file__).resolve().parent.parent
# A Tuesday: the clock every scenario under recordings/ runs at.
NOW = dt.datetime(2026, 11, 24, 15, 0)


@pytest.fixture
def business() -> Business:
    return Business.from_file(PROJECT / "flows" / "booking.business.yaml")


@pytest.fixture
def store(tmp_path, business) -> BookingStore:
    return BookingStore(tmp_path / "bookings.db", business)
