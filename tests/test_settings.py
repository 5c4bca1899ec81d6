"""Configuration errors stop the bot with one line naming the setting."""

import os
import subprocess
import sys

import pytest

from bot.settings import ConfigError, load_settings
from tests.conftest import PROJECT


@pytest.mark.parametrize(
    "env, names",
    [
        ({"BOT_PORT": "eighty"}, "BOT_PORT"),
        ({"BOT_PORT": "70000"}, "BOT_PORT"),
        ({"BOT_FLOW_FILE": "/no/such/flow.yaml"}, "BOT_FLOW_FILE"),
        ({"BOT_LLM": "cloud"}, "BOT_LLM"),
        ({"BOT_STT": "sometimes"}, "BOT_STT"),
        ({"BOT_PUBLIC_URL": "line.example.com"}, "BOT_PUBLIC_URL"),
        ({"BOT_BUSINESS_FILE": str(PROJECT / "flows" / "booking.yaml")}, "BOT_BUSINESS_FILE"),
        ({"BOT_AUDIO_CUSHION_MS": "500"}, "BOT_AUDIO_CUSHION_MS"),
    ],
)
def test_bad_setting_is_one_line_naming_it(monkeypatch, env, names):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(names) and "\n" not in message


def test_provider_choice_follows_keys(monkeypatch):
    assert not load_settings().uses_cloud("llm")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    assert settings.uses_cloud("llm") and not settings.uses_cloud("stt")
    monkeypatch.setenv("BOT_LLM", "local")
    assert not load_settings().uses_cloud("llm")


def test_the_command_line_prints_one_line_and_exits_2():
    env = os.environ | {"BOT_PORT": "not-a-port"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "configuration error: BOT_PORT: Input should be a valid integer, unable to parse string as an integer"
    ]
