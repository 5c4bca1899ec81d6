"""A worker carrying more than its share of the host's calls leaves a new connection to another
(bot/serving/fair_accept.py)."""

import socket

import pytest

from bot.serving import fair_accept
from bot.serving.fair_accept import FairShareSocket
from bot.serving.host_line import HostLine


@pytest.fixture
def listening():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_the_busier_worker_declines_a_connection_the_other_takes_and_patience_runs_out(tmp_path, listening, monkeypatch):
    busy, idle = (HostLine(tmp_path, admitted_secs=15, group="serve-1") for _ in range(2))
    standby = HostLine(tmp_path, admitted_secs=15, group="serve-2")  # another server of the host, no calls
    for sid in ("CA1", "CA2"):
        busy.claim_stream(sid)
    busy_socket = FairShareSocket.of(socket.dup(listening.fileno()), busy)
    idle_socket = FairShareSocket.of(socket.dup(listening.fileno()), idle)
    caller = socket.create_connection(listening.getsockname())
    with pytest.raises(BlockingIOError):
        busy_socket.accept()  # two calls of the host's two: over its share of one
    connection, _ = idle_socket.accept()  # none of them: takes it
    connection.close()

    second = socket.create_connection(listening.getsockname())
    with monkeypatch.context() as patience:
        patience.setattr(fair_accept, "PATIENCE_SECS", 0.0)  # nobody else came for it in time: taken anyway
        connection, _ = busy_socket.accept()
        connection.close()
    idle.claim_stream("CA3")
    third = socket.create_connection(listening.getsockname())
    with pytest.raises(BlockingIOError):
        busy_socket.accept()  # two of the host's three: still over its share
    idle.claim_stream("CA4")
    connection, _ = busy_socket.accept()  # two of four: its share
    connection.close()
    for sock in (caller, second, third, busy_socket, idle_socket):
        sock.close()
    assert standby.workers() == 3 and standby.workers(group="serve-2") == 1
