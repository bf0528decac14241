"""The fork server (server.py --fork-server, harness.ForkServer) that starts the unit tests' emulators: a forked
emulator serves, restarts on its port with its world, exits 0 on SIGTERM, and stops when the fork server ends."""
from __future__ import annotations

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
