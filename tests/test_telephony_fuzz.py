"""Fuzzing the media-stream message handling: no input may raise or kill the call."""

import asyncio
import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame

from bot.telephony.media_stream import (
    HandshakeError,
    SafeTwilioFrameSerializer,
    _parse_start,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
twilio_like = st.fixed_dictionaries(
    {"event": st.sampled_from(["media", "dtmf", "start", "stop", "mark", "connected", "clear"]) | st.text(max_size=8)},
    optional={
        "media": st.fixed_dictionaries({}, optional={"payload": st.text(max_size=400) | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()), "track": st.text(max_size=8)}) | json_values,
        "dtmf": st.fixed_dictionaries({}, optional={"digit": st.text(max_size=3)}) | json_values,
        "start": json_values,
        "streamSid": json_values,
    },
)


def serializer() -> SafeTwilioFrameSerializer:
    s = SafeTwilioFrameSerializer(stream_sid="MZ1", params=SafeTwilioFrameSerializer.InputParams(auto_hang_up=False))
    # The serializer learns the pipeline's rate from the StartFrame; phone calls run at 8 kHz.
    s._sample_rate = 8000
    return s


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=500), st.binary(max_size=500).map(lambda b: b.decode("latin-1")), twilio_like.map(json.dumps), json_values.map(json.dumps)))
def test_any_message_becomes_a_frame_or_nothing(message):
    frame = asyncio.run(serializer().deserialize(message))
    assert frame is None or isinstance(frame, (InputAudioRawFrame, InputDTMFFrame))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_start_message_is_parsed_or_refused_cleanly(start):
    try:
        parsed = _parse_start({"event": "start", "start": start})
    except HandshakeError:
        return
    assert parsed.call_sid and parsed.stream_sid


def test_valid_media_becomes_8khz_audio():
    payload = base64.b64encode(bytes([0xFF] * 160)).decode()
    frame = asyncio.run(serializer().deserialize(json.dumps({"event": "media", "media": {"payload": payload}})))
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 8000 and len(frame.audio) == 320
