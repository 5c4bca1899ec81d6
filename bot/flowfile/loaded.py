"""The flow file as calls read it: parsed once per process, and again whenever a file beside it changes.

``FlowConfig.from_file`` reads the YAML and validates it, about 35 ms of one
core and 600 objects each time: on a busy worker, a pause in every other call
at each call's start, and more objects for the collector to walk while the call
lasts (docs/load.md). The config is read-only (each call builds its own
``Flow`` from it), so calls share one. An edited flow reaches the next call
without a restart, as before: the cache is keyed on the size and time of every
flow file in the directory, the ``!include``'d ones with it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pipecat.flows import FlowConfig

FLOW_SUFFIXES = (".yaml", ".yml", ".json")


def flow_config(path: Path) -> FlowConfig:
    return _parsed(path, _state_of(path.parent))


def _state_of(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(p for p in directory.iterdir() if p.suffix in FLOW_SUFFIXES)
    return tuple((p.name, (stat := p.stat()).st_mtime_ns, stat.st_size) for p in files)


@functools.lru_cache(maxsize=8)
def _parsed(path: Path, _directory_state: tuple) -> FlowConfig:
    return FlowConfig.from_file(path)
