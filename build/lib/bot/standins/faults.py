"""Fault modes the stand-ins can be switched into while they run."""

from dataclasses import dataclass
from typing import Literal

FaultMode = Literal["ok", "refuse", "hang", "drop", "garbage", "error"]

FAULT_MODES: frozenset[str] = frozenset(FaultMode.__args__)


@dataclass
class Fault:
    """How a stand-in endpoint misbehaves.

    Attributes:
        mode: ``"ok"`` behaves normally; ``"refuse"`` rejects requests and
            websocket upgrades with HTTP 503; ``"hang"`` accepts and then never
            answers; ``"drop"`` cuts the connection without a close handshake
            after ``drop_after`` payload messages; ``"garbage"`` answers with
            malformed or mistyped messages; ``"error"`` (OpenAI only) answers
            HTTP 500 with a provider-style error body.
        drop_after: For ``"drop"``: payload messages (audio chunks, transcripts,
            SSE chunks) sent before the cut. 0 cuts as soon as the client sends
            its first payload.
    """

    mode: FaultMode = "ok"
    drop_after: int = 1

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; expected one of {sorted(FAULT_MODES)}")
        if self.drop_after < 0:
            raise ValueError("drop_after must be >= 0")
