"""The fork server (server.py --fork-server, harness.ForkServer) that starts the unit tests' emulators: a forked
emulator serves, restarts on its port with its world, exits 0 on SIGTERM, and stops when the fork server ends; the
forks of a process (ansible-test runs each unit test in one) share its fork server."""
from __future__ import annotations

import os
import time

import harness  # pylint: disable=import-error
import pytest
from emu_helpers import STOPPED_HKG, ok, running, status_of
from harness import Emulator, load_seed


@pytest.fixture
def fork_server(monkeypatch):
    server = harness.ForkServer()
    monkeypatch.setattr(harness, "_FORK_SERVER", server)
    yield server
    server.close()


def test_a_forked_emulator_serves_keeps_its_world_across_a_restart_and_exits_0(fork_server) -> None:  # pylint: disable=redefined-outer-name
    emu = Emulator(load_seed("default"), time_scale=0.05).start()
    try:
        assert isinstance(emu.process, harness.ForkedProcess) and emu.process.poll() is None
        assert fork_server.process is not None and emu.process.pid != fork_server.process.pid
        ok(emu, "StartInstances", {"instanceIds": [STOPPED_HKG]})
        port = emu.port
        emu.restart()
        assert emu.port == port and status_of(emu, STOPPED_HKG) in ("BOOTING", "RUNNING")
        process = emu.process
        emu.stop()
        assert process.returncode == 0 and not running(process.pid)
    finally:
        emu.close()


def test_forked_emulators_stop_when_the_fork_server_ends(fork_server) -> None:  # pylint: disable=redefined-outer-name
    first, second = Emulator(load_seed("demo")).start(), Emulator(load_seed("demo")).start()
    try:
        pids = [first.process.pid, second.process.pid]
        fork_server.close()
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(running(pid) for pid in pids), "an emulator ran on after its fork server ended"
    finally:
        first.close()
        second.close()


def _in_a_fork(work) -> str:
    """What work() returns, run in a fork of this process (as ansible-test runs each unit test)."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        try:
            os.write(writing, str(work()).encode())
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.close(writing)
    with os.fdopen(reading) as answer:
        said = answer.read()
    os.waitpid(pid, 0)
    return said


def _parent_of(pid: int) -> int:
    with open("/proc/%d/status" % pid, encoding="ascii") as status:
        return int(next(line for line in status if line.startswith("PPid:")).split()[1])


def test_the_forks_of_a_process_share_its_fork_server_and_never_take_an_unread_answer(fork_server) -> None:  # pylint: disable=redefined-outer-name
    fork_server.start()
    server_pid = fork_server.process.pid

    def serve_one() -> int:
        emu = Emulator(load_seed("demo")).start()
        try:
            return _parent_of(emu.process.pid)
        finally:
            emu.close()

    assert [int(_in_a_fork(serve_one)), int(_in_a_fork(serve_one))] == [server_pid, server_pid], \
        "each fork started a fork server of its own"
    # a fork that asked and ended before the answer: the next question gets its own answer, not that one
    unread = b'{"reap": 1, "id": "gone"}\n'
    _in_a_fork(lambda: fork_server.process.stdin.write(unread) and fork_server.process.stdin.flush())
    emu = Emulator(load_seed("demo")).start()
    try:
        assert fork_server.process.pid == server_pid and _parent_of(emu.process.pid) == server_pid
        assert ok(emu, "DescribeZones", {}) is not None
    finally:
        emu.close()
