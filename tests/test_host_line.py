"""The host's calls shared by its workers (bot/serving/host_line.py): one count, and no place outlives its worker."""

import signal
import subprocess
import sys
import textwrap

from bot.serving.host_line import HostLine, StreamClaim

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from bot.serving.host_line import HostLine
    line = HostLine(Path(sys.argv[1]), admitted_secs=15)
    assert line.admit("CAcalling", cap=3) and line.admit("CAtalking", cap=3)
    line.claim_stream("CAtalking")
    print("holding", flush=True)
    time.sleep(600)
    """
)


def test_every_worker_counts_the_same_calls_against_the_host_cap(tmp_path):
    a, b = HostLine(tmp_path, admitted_secs=15), HostLine(tmp_path, admitted_secs=15)
    assert a.admit("CA1", cap=2)  # the webhook on worker A
    assert b.admit("CA2", cap=2)  # another webhook on worker B
    assert not a.admit("CA3", cap=2) and not b.admit("CA3", cap=2)  # the host is full, whoever asks
    assert b.admit("CA1", cap=2)  # Twilio asking again for a call let in keeps its place
    assert b.claim_stream("CA1") is StreamClaim.FREE  # its stream reached B: one call, not two
    assert (a.calls(), b.calls(), a.streams(), a.workers()) == (2, 2, 1, 2)
    assert a.claim_stream("CA1") is StreamClaim.LIVE_ELSEWHERE  # a second stream while B still carries it
    b.stream_ended("CA1")
    assert a.admit("CA3", cap=2) and a.calls() == 2
    b.close()  # B exits: what it held is given up
    # CA2, let in by B, no longer holds a place: when its stream comes to A, A lets it in again.
    assert a.workers() == 1 and a.calls() == 1 and a.admit("CA2", cap=2)


def test_a_killed_workers_calls_are_not_counted_and_its_call_in_progress_is_orphaned(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "holding"
        line = HostLine(tmp_path, admitted_secs=15)
        assert line.calls() == 2 and line.workers() == 2
        assert line.admit("CAnew", cap=3) and not line.admit("CAmore", cap=3)  # the other worker's count too
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        # The kernel released the dead worker's lock: its places are gone from the count at once.
        assert line.calls() == 1 and line.workers() == 1  # CAnew, this worker's own
        assert line.admit("CAmore", cap=3) and line.admit("CAthird", cap=3)
        assert line.orphans() == ["CAtalking"]  # its stream was up: the call is to be resumed
        assert line.claim_stream("CAtalking") is StreamClaim.ORPHANED  # taken over here, once
        assert line.orphans() == [] and line.claim_stream("CAtalking") is StreamClaim.FREE
    finally:
        worker.kill()
        worker.wait()


def test_orphans_are_forgotten_unless_a_worker_took_them_over(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "holding"
    worker.kill()
    worker.wait()
    line = HostLine(tmp_path, admitted_secs=15)
    orphans = line.orphans()
    line.forget_orphans(orphans)
    assert orphans == ["CAtalking"] and line.orphans() == [] and line.calls() == 0


def test_an_unreadable_file_starts_the_count_again(tmp_path):
    line = HostLine(tmp_path, admitted_secs=15)
    (tmp_path / "line.json").write_text("{not json")
    assert line.calls() == 0 and line.admit("CA1", cap=1) and not line.admit("CA2", cap=1)
