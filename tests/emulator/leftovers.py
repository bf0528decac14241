# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a test run left behind: processes it started that still run, and the emulators' temp folders.

A run marks itself once (``mark_run()``: the environment variable ZENLAYER_TEST_RUN, inherited by every process it
starts: pytest-xdist workers, emulators, ansible-playbook and its workers), and harness.Emulator puts that mark in its
temp folder's name (``zenlayer-emulator-RUN-*``). At the end, ``leftovers(run)`` lists every process that still carries
the mark (but the caller and pytest-xdist's own workers) and every folder of that run: another engineer's run on the
same machine is never counted. ``clean_up()`` stops and removes what was found.

tests/unit/conftest.py and tests/integration/conftest.py call ``mark_run()`` in pytest_configure (before pytest-xdist
starts its workers) and ``fail_session_on_leftovers()`` in pytest_sessionfinish: a run that leaves anything behind
fails with a test case ``no leftovers`` that names what it found (and removes it, so the machine stays clean).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import tempfile
import time
import uuid
from typing import NamedTuple

RUN_ENV = "ZENLAYER_TEST_RUN"
FOLDER_PREFIX = "zenlayer-emulator-"
GRACE_SECONDS = 10.0  # a process that is already exiting (a killed playbook's workers) gets this long to go
XDIST_WORKER = "exec(eval(sys.stdin.readline()))"  # execnet's bootstrap: pytest-xdist's workers, not leftovers


class Leftover(NamedTuple):
    """A process (pid, command line) or a folder (pid 0, path) that outlived the run."""

    pid: int
    what: str


def mark_run() -> str:
    """This run's id (set once in os.environ, so every process started from here on inherits it)."""
    return os.environ.setdefault(RUN_ENV, uuid.uuid4().hex[:12])


def folder_prefix(run: str | None = None) -> str:
    """The temp-folder prefix of an emulator of this run (zenlayer-emulator-RUN-, or zenlayer-emulator- unmarked)."""
    run = os.environ.get(RUN_ENV, "") if run is None else run
    return FOLDER_PREFIX + (run + "-" if run else "")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:  # gone, a zombie, or not ours
        return b""


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        fields = _read("/proc/%d/stat" % pid).rsplit(b")", 1)[-1].split()
        pid = int(fields[1]) if len(fields) > 1 else 0
    return pids


def processes(run: str) -> list[Leftover]:
    """Live processes (not zombies) started in this run, but this one, its ancestors and pytest-xdist's workers."""
    mark = ("%s=%s" % (RUN_ENV, run)).encode()
    skip = _ancestors()
    found = []
    for entry in glob.glob("/proc/[0-9]*"):
        pid = int(entry.rsplit("/", 1)[1])
        if pid in skip or mark not in _read(entry + "/environ").split(b"\0"):
            continue
        state = _read(entry + "/stat").rsplit(b")", 1)[-1].split()[:1]
        command = _read(entry + "/cmdline").replace(b"\0", b" ").decode("utf-8", "replace").strip()
        if state == [b"Z"] or not command or XDIST_WORKER in command:
            continue
        found.append(Leftover(pid, command[:300]))
    return found


def folders(run: str) -> list[Leftover]:
    """The emulators' temp folders of this run that still exist."""
    return [Leftover(0, path) for path in sorted(glob.glob(os.path.join(tempfile.gettempdir(), folder_prefix(run) + "*")))]


def leftovers(run: str, grace: float = GRACE_SECONDS) -> list[Leftover]:
    """What this run left behind, after giving processes that are on their way out `grace` seconds to go."""
    deadline = time.monotonic() + grace
    while processes(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    return processes(run) + folders(run)


def clean_up(found: list[Leftover]) -> None:
    """Kill the processes and remove the folders that were found."""
    for item in found:
        if item.pid:
            try:
                os.kill(item.pid, signal.SIGKILL)
            except OSError:
                pass
        else:
            shutil.rmtree(item.what, ignore_errors=True)


def report(found: list[Leftover]) -> str:
    """One line per leftover, for a failure message."""
    return "\n".join(("process %d: %s" % item) if item.pid else ("folder: %s" % item.what) for item in found)


# -- for the conftests' pytest hooks ---------------------------------------------------------------------------------


def fail_session_on_leftovers(session) -> None:
    """pytest_sessionfinish (tryfirst, so junitxml still records it) in the controller, not in an xdist worker: when
    this run left anything, add a failed test case "no leftovers" that names it, and fail the run."""
    if hasattr(session.config, "workerinput") or RUN_ENV not in os.environ:
        return
    found = leftovers(os.environ[RUN_ENV])
    if not found:
        return
    clean_up(found)
    import pytest  # pylint: disable=import-outside-toplevel

    message = "this test run left these behind (now stopped and removed):\n" + report(found)
    failure = pytest.TestReport("no leftovers", (__file__, 0, "no leftovers"), {}, "failed", message, "call")
    session.config.hook.pytest_runtest_logreport(report=failure)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
