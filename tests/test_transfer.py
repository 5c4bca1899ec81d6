"""Putting a caller through to staff: the real twilio SDK against a local stand-in for its REST API."""

import asyncio
from types import SimpleNamespace

import pytest

from bot.booking import tools
from bot.call.context import CallContext
from bot.call.pipeline import initial_state
from bot.settings import ConfigError, load_settings
from bot.telephony.transfer import StaffTransfer
from tests.conftest import NOW


def test_transfer_redirects_the_live_call_to_dial_staff(twilio_api):
    url, received = twilio_api
    transfer = StaffTransfer("+15550009999", "AC123", "secret", url)
    assert transfer.transfer("CA42")
    ((path, form, auth),) = received
    assert path == "/2010-04-01/Accounts/AC123/Calls/CA42.json" and auth.startswith("Basic ")
    assert "<Dial>+15550009999</Dial>" in form["Twiml"][0]


def test_a_refused_transfer_falls_back_to_taking_a_message(twilio_api, store):
    url, _ = twilio_api
    call = CallContext("CAmissing", "+15550100", store, clock=lambda: NOW,
                       transfer=StaffTransfer("+15550009999", "AC123", "secret", url))
    fm = SimpleNamespace(state=initial_state(call))
    asyncio.run(tools.transfer_to_staff({}, fm))
    assert fm.state["transferred"] is False


def test_transfer_is_configured_only_with_a_number_and_credentials(monkeypatch):
    assert load_settings().staff_transfer is None
    monkeypatch.setenv("BOT_TRANSFER_NUMBER", "+15550009999")
    assert load_settings().staff_transfer is None
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    assert load_settings().staff_transfer.number == "+15550009999"
    monkeypatch.setenv("BOT_TRANSFER_NUMBER", "555-staff")
    with pytest.raises(ConfigError, match="^BOT_TRANSFER_NUMBER"):
        load_settings()
