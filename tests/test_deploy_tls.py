"""The shipped reverse proxy for real: Caddy (Debian's package) with deploy/caddy/phone-line.caddy in front of
the server, a certificate from a local certificate authority made with openssl, and a replayed call whose
webhook goes over https:// and whose media stream goes over wss://, both through Caddy.

Caddy and the server listen on free loopback ports only; Caddy's admin endpoint and its automatic HTTPS
(port 80, ACME) are off, which is all that differs from deploy/caddy/Caddyfile.
"""

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import xml.etree.ElementTree as ET

import aiohttp
import pytest

from bot.replay.runner import free_port, in_process_server, replay_settings
from bot.replay.scenario import load_scenario
from bot.replay.twilio_call import TwilioCall, webhook_poster
from tests.conftest import PROJECT

SITE = PROJECT / "deploy" / "caddy" / "phone-line.caddy"
SCENARIO = load_scenario(PROJECT / "recordings" / "one-sentence")
pytestmark = pytest.mark.skipif(
    not (shutil.which("caddy") and shutil.which("openssl")),
    reason="needs Debian's caddy and openssl (bash scripts/run.sh test installs them)",
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A local certificate authority and a certificate it issued for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test line CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "req.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "cert.pem")
    return d


def trusting(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate / "ca.pem"))


@contextlib.asynccontextmanager
async def caddy(tmp_path, certificate, port: int, upstreams: str):
    config = tmp_path / "Caddyfile"
    config.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"https://127.0.0.1:{port} {{\n\tbind 127.0.0.1\n"
        f"\ttls {certificate / 'cert.pem'} {certificate / 'key.pem'}\n\timport {SITE}\n}}\n"
    )
    env = {**os.environ, "BOT_UPSTREAMS": upstreams, "BOT_LB_TRY": "1s", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    log = (tmp_path / "caddy.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        "caddy", "run", "--config", str(config), "--adapter", "caddyfile", env=env, stdout=log, stderr=log
    )
    try:
        for _ in range(100):
            if process.returncode is not None:
                raise RuntimeError(f"caddy exited: {(tmp_path / 'caddy.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            await asyncio.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()
        log.close()


async def test_a_replayed_call_over_https_and_wss_through_caddy_books_its_table(tmp_path, certificate):
    caddy_port = free_port()
    settings = replay_settings(tmp_path / "bookings.db", recordings_dir=tmp_path / "calls",
                               public_url=f"https://127.0.0.1:{caddy_port}")
    async with in_process_server(settings) as (media_url, store):
        upstream = media_url.removeprefix("ws://").removesuffix("/twilio/media")
        async with caddy(tmp_path, certificate, caddy_port, upstream) as site:
            tls = trusting(certificate)
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{site}/readyz", ssl=tls) as ready:  # Caddy checks the same
                    assert ready.status == 200 and (await ready.json())["ready"]
                async with session.get(f"{site}/metrics", ssl=tls) as metrics:  # never to the internet
                    assert metrics.status == 404
                with pytest.raises(aiohttp.ClientConnectorCertificateError):  # the system does not trust it
                    await session.get(f"{site}/healthz")
            answered = ET.fromstring(await webhook_poster(tls)(f"{site}/twilio/voice", {"CallSid": "CAprobe"}))
            assert answered.find("./Connect/Stream").get("url") == f"wss://127.0.0.1:{caddy_port}/twilio/media"
            result = await TwilioCall(SCENARIO, f"{site}/twilio/voice", ssl=tls).run()
            await asyncio.sleep(0.5)
            report = store.call_report(result.call_sid)
    assert result.completed and result.streams >= 1 and result.turns_said == len(SCENARIO.turns), result
    assert all(url.startswith(f"https://127.0.0.1:{caddy_port}/") for url in result.webhooks)
    assert report["call"]["outcome"] == "booked"
    (booking,) = report["bookings"]
    assert {k: booking[k] for k in SCENARIO.expect["booking"]} == SCENARIO.expect["booking"]


async def test_with_no_worker_to_answer_caddy_tells_the_caller_the_lines_are_busy(tmp_path, certificate):
    async with caddy(tmp_path, certificate, free_port(), f"127.0.0.1:{free_port()}") as site:
        twiml = ET.fromstring(await webhook_poster(trusting(certificate))(f"{site}/twilio/voice", {"CallSid": "CA1"}))
    assert [verb.tag for verb in twiml] == ["Say", "Hangup"] and "lines are busy" in twiml.find("Say").text
