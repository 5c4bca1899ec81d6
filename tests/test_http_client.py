"""A worker's calls share the cloud SDKs' HTTP clients (bot/services/http_client.py): a new client per
call loads the CA bundle with the event loop blocked, and a shared one keeps its connections."""

import asyncio
import datetime as dt

from bot.replay.runner import replay_settings
from bot.services.factory import build_llm, build_stt

CLOUD = replay_settings(
    deepgram_api_key="k", deepgram_base_url="ws://127.0.0.1:9", openai_api_key="k", openai_base_url="http://127.0.0.1:9/v1"
)


def _http_clients(stt, llm) -> tuple[object, object]:
    return stt._client._client_wrapper.httpx_client.httpx_client, llm._client._client


async def _two_calls():
    first = _http_clients(build_stt(CLOUD, guarded=True), build_llm(CLOUD, dt.datetime.now, turn_budget_secs=2))
    second = _http_clients(build_stt(CLOUD), build_llm(CLOUD, dt.datetime.now))
    return first, second


def test_calls_in_one_event_loop_share_the_http_clients_and_another_loop_has_its_own():
    first, second = asyncio.run(_two_calls())
    assert first[0] is second[0] and first[1] is second[1]
    assert first[0] is not first[1]  # Deepgram's SDK and OpenAI's use different HTTP libraries
    elsewhere, _ = asyncio.run(_two_calls())
    assert elsewhere[0] is not first[0] and elsewhere[1] is not first[1]


def test_a_closed_client_is_replaced():
    async def closed_then_new():
        llm = build_llm(CLOUD, dt.datetime.now)
        await llm._client._client.aclose()
        return llm._client._client, build_llm(CLOUD, dt.datetime.now)._client._client

    closed, new = asyncio.run(closed_then_new())
    assert closed.is_closed and not new.is_closed
