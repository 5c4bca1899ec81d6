"""The host's line: the calls in progress on this host, shared by all its worker processes.

``python -m bot serve --workers N`` runs N processes behind one port
(bot/serving/supervisor.py), and a Twilio call's webhook and its media stream
may reach different ones. ``BOT_MAX_CALLS``, ``/healthz`` and ``/readyz`` are
about the host, so every worker keeps its calls here, in a small file of a
directory the workers share (``BOT_LINE_DIR``, else one the supervisor makes):

- ``line.json``: call SID -> the worker that holds it, when, and whether its
  media stream is up (else the webhook let it in and its stream is awaited, for
  up to ``admitted_secs``); rewritten whole, under ``line.lock`` (``flock``);
- ``workers/<id>.alive``: each worker holds an exclusive ``flock`` on its own for
  as long as it lives. The kernel releases it when the process dies, SIGKILL
  included, so a worker's places can never outlive it: a call held by a worker
  whose file is no longer locked is not counted, and its call is *orphaned*
  (another worker takes it over, resuming it from its checkpoint).

Every operation is a few system calls on a file of at most a few kilobytes,
under a lock held for well under a millisecond.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from loguru import logger


class StreamClaim(StrEnum):
    FREE = "free"  # nobody else holds the call: this worker now does
    LIVE_ELSEWHERE = "live elsewhere"  # another living worker still carries its stream
    ORPHANED = "orphaned"  # its worker died mid-call: this worker now holds it, to resume it


@dataclass(frozen=True)
class _Place:
    worker: str
    at: float  # unix time it was let in, or its stream started
    streaming: bool

    @classmethod
    def of(cls, value: dict) -> _Place:
        return cls(str(value["worker"]), float(value["at"]), bool(value["streaming"]))


class HostLine:
    """This worker's view of the host's calls; ``close`` (or the process's end) gives its places up."""

    def __init__(self, directory: Path, *, admitted_secs: float, group: str = "own"):
        """``group``: the workers that accept from one listening socket (one supervisor's), as against
        other servers of the host sharing the directory."""
        self.directory = Path(directory)
        self.admitted_secs = admitted_secs
        self.group = group
        self.worker = f"{group}.{uuid.uuid4().hex[:12]}"
        (self.directory / "workers").mkdir(parents=True, exist_ok=True)
        self._lock_path = self.directory / "line.lock"
        self._path = self.directory / "line.json"
        self._alive = open(self._alive_path(self.worker), "wb")  # noqa: SIM115 - held for the worker's life
        fcntl.flock(self._alive, fcntl.LOCK_EX)

    def _alive_path(self, worker: str) -> Path:
        return self.directory / "workers" / f"{worker}.alive"

    def close(self) -> None:
        """This worker's places are given up (its calls are over: it is exiting)."""
        with self._locked() as places:
            for sid in [sid for sid, place in places.items() if place.worker == self.worker]:
                del places[sid]
        with contextlib.suppress(OSError):
            self._alive_path(self.worker).unlink()
        self._alive.close()

    # The file, under its lock

    @contextlib.contextmanager
    def _locked(self):
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            places = self._read()
            before = dict(places)
            yield places
            if places != before:
                temporary = self._path.with_suffix(f".{self.worker}.tmp")
                temporary.write_text(json.dumps({sid: place.__dict__ for sid, place in places.items()}))
                os.replace(temporary, self._path)  # a worker killed mid-write leaves the old file whole

    def _read(self) -> dict[str, _Place]:
        try:
            return {sid: _Place.of(value) for sid, value in json.loads(self._path.read_text()).items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            logger.error(f"{self._path} was unreadable ({e}); the host's count of calls starts again")
            return {}

    def _living(self, places: dict[str, _Place]) -> set[str]:
        """The workers among ``places``' holders that are alive (their file still locked)."""
        living = {self.worker}
        for worker in {place.worker for place in places.values()} - living:
            try:
                with open(self._alive_path(worker), "rb") as alive:
                    fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                living.add(worker)  # still held: that worker lives
            except FileNotFoundError:
                pass  # it exited
            else:
                with contextlib.suppress(OSError):
                    self._alive_path(worker).unlink()
        return living

    def _counted(self, place: _Place, living: set[str], now: float) -> bool:
        return place.worker in living and (place.streaming or now - place.at <= self.admitted_secs)

    # What the server asks

    def admit(self, call_sid: str, cap: int) -> bool:
        """A new call, let in if the host has fewer than ``cap`` (0: no limit) calls; its place is held
        for ``admitted_secs`` while its stream opens, on whichever worker."""
        now = time.time()
        with self._locked() as places:
            living = self._living(places)
            for sid, place in list(places.items()):
                if not place.streaming and not self._counted(place, living, now):
                    del places[sid]  # let in long ago, no stream came (or its worker is gone)
            if call_sid in places:
                return True  # Twilio asked again for a call already let in
            if cap and sum(self._counted(p, living, now) for p in places.values()) >= cap:
                return False
            places[call_sid] = _Place(self.worker, now, streaming=False)
            return True

    def claim_stream(self, call_sid: str) -> StreamClaim:
        """The call's media stream starts on this worker: it holds the call from now on, unless another
        living worker still carries it."""
        now = time.time()
        with self._locked() as places:
            place = places.get(call_sid)
            if place is not None and place.streaming and place.worker != self.worker:
                if place.worker in self._living(places):
                    return StreamClaim.LIVE_ELSEWHERE
                places[call_sid] = _Place(self.worker, now, streaming=True)
                return StreamClaim.ORPHANED
            places[call_sid] = _Place(self.worker, now, streaming=True)
            return StreamClaim.FREE

    def stream_ended(self, call_sid: str) -> None:
        with self._locked() as places:
            if (place := places.get(call_sid)) is not None and place.worker == self.worker:
                del places[call_sid]

    def orphans(self) -> list[str]:
        """The calls whose worker died with their stream up (not counted; :meth:`forget_orphans` once seen to)."""
        with self._locked() as places:
            living = self._living(places)
            return [sid for sid, place in places.items() if place.streaming and place.worker not in living]

    def forget_orphans(self, call_sids: list[str]) -> None:
        """Off the line, those of ``call_sids`` still held by a dead worker (not one another worker took over)."""
        if not call_sids:
            return
        with self._locked() as places:
            living = self._living(places)
            for sid in call_sids:
                if (place := places.get(sid)) is not None and place.worker not in living:
                    del places[sid]

    def calls(self) -> int:
        """The host's calls in progress: streams up, and calls let in whose stream is awaited."""
        now = time.time()
        with self._locked() as places:
            living = self._living(places)
            return sum(self._counted(place, living, now) for place in places.values())

    def streams(self) -> int:
        """The host's calls on the line now (their streams up, on living workers)."""
        with self._locked() as places:
            living = self._living(places)
            return sum(place.streaming and place.worker in living for place in places.values())

    def shares(self) -> tuple[int, int, int]:
        """This worker's calls on the line now, its group's (bot/serving/fair_accept.py) and the group's workers."""
        with self._locked() as places:
            living = self._living(places)
            mine = sum(place.streaming and place.worker == self.worker for place in places.values())
            group = sum(
                place.streaming and place.worker in living and place.worker.startswith(f"{self.group}.")
                for place in places.values()
            )
        return mine, group, self.workers(group=self.group)

    def own_calls(self) -> int:
        """This worker's share: what its drain waits for."""
        now = time.time()
        with self._locked() as places:
            return sum(p.worker == self.worker and self._counted(p, {self.worker}, now) for p in places.values())

    def workers(self, group: str | None = None) -> int:
        """The host's living workers (those serving calls: a worker joins once its engines are loaded),
        or those of one ``group``."""
        count = 0
        for path in (self.directory / "workers").glob(f"{group}.*.alive" if group else "*.alive"):
            if path.stem == self.worker:
                count += 1
                continue
            try:
                with open(path, "rb") as alive:
                    fcntl.flock(alive, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                count += 1
            except FileNotFoundError:
                pass
        return count
