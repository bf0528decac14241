"""The check that a test run leaves nothing behind (tests/emulator/leftovers.py): it sees an emulator left running,
its temp folder, and a process the run started, and only the run's own."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import harness  # pylint: disable=import-error
import leftovers  # pylint: disable=import-error
import pytest
from emu_helpers import running  # pylint: disable=import-error
from harness import Emulator, load_seed  # pylint: disable=import-error


@pytest.fixture(autouse=True)
def own_processes(monkeypatch) -> None:
    """Emulators started as new interpreters: one forked by the run's fork server carries the run's mark, not the one
    these tests set."""
    monkeypatch.setattr(harness, "_FORK_SERVER", None)


def test_an_emulator_left_running_and_a_stray_process_are_found_then_removed(monkeypatch) -> None:
    monkeypatch.setenv(leftovers.RUN_ENV, "leftovers-selftest-%d" % os.getpid())
    run = os.environ[leftovers.RUN_ENV]
    emu = Emulator(load_seed("demo")).start()  # never closed: what a test that fails half-way leaves
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # pylint: disable=consider-using-with
    try:
        found = leftovers.leftovers(run, grace=0)
        assert {item.pid for item in found if item.pid} == {emu.process.pid, stray.pid}
        assert [item.what for item in found if not item.pid] == [emu._tmpdir]  # pylint: disable=protected-access
        assert os.path.basename(emu._tmpdir).startswith("zenlayer-emulator-%s-" % run)  # pylint: disable=protected-access
        monkeypatch.setenv(leftovers.RUN_ENV, "another-run")
        assert leftovers.leftovers(run + "-other", grace=0) == [], "another run's leftovers are not this run's"
        leftovers.clean_up(found)
        emu.process.wait(timeout=10)
        stray.wait(timeout=10)
        assert leftovers.leftovers(run, grace=0) == []
    finally:
        emu.close()
        stray.kill()
        stray.wait()


def test_the_emulator_stops_when_the_process_that_started_it_is_gone() -> None:
    """server.py watches its parent: a test process killed before its teardown leaves no emulator running."""
    starter = ("import os, sys; sys.path.insert(0, %r); from harness import Emulator, load_seed; "
               "emu = Emulator(load_seed('demo')).start(); print(emu.process.pid, emu._tmpdir, flush=True); "
               "os._exit(0)" % os.path.dirname(leftovers.__file__))
    done = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, timeout=30, check=True)
    pid, folder = int(done.stdout.split()[0]), done.stdout.split()[1]
    try:
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(pid), "the emulator ran on after the process that started it exited"
    finally:
        if running(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
