"""The flow file as calls read it: one parse per process, again after any flow file beside it changes
(bot/flowfile/loaded.py)."""

import os
import shutil

from bot.flowfile.loaded import flow_config
from bot.settings import PROJECT_DIR

FLOW = PROJECT_DIR / "flows" / "booking.yaml"


def _touch(path, later_by_ns: int) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + later_by_ns))


def test_calls_share_one_parse_until_the_file_is_edited(tmp_path):
    flow = tmp_path / "booking.yaml"
    shutil.copy(FLOW, flow)
    first = flow_config(flow)
    assert flow_config(flow) is first
    text = flow.read_text()
    flow.write_text(text.replace("initial_node: greeting", "initial_node: greeting  # edited", 1))
    _touch(flow, 1_000_000)
    edited = flow_config(flow)
    assert edited is not first and edited.initial_node == first.initial_node


def test_an_edit_to_a_file_beside_it_is_read_too(tmp_path):
    flow = tmp_path / "booking.yaml"
    shutil.copy(FLOW, flow)
    (tmp_path / "included.yaml").write_text("a: 1\n")
    first = flow_config(flow)
    (tmp_path / "included.yaml").write_text("a: 22\n")
    assert flow_config(flow) is not first
