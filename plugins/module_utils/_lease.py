# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Leases on power records (see _record.py): renewed while a run waits, given up when the run is cancelled.

* `Lease`: the records one run holds. It renews each when less than a third of its lease is left (`renew_due`, called
  between the polls of every wait) and gives them all up (`lapse_all`) when the run is cancelled.
* `cancel_on_signals`: SIGINT and SIGTERM (Ctrl-C, an AWX cancel: ansible-core passes both on to the running task's
  process group) end the run with `CancelledRun`, so the module can give its leases up before it exits.
* The watchdog: a process that outlives the task which wrote a record and gives it up as soon as the job's
  ansible-playbook process is gone without removing it (a cancel between two tasks, or a kill), unless a module of
  the job still works on the instance (an orphan, which renews its own lease). Modules that work under a lease say so
  in a holder file; the record's removal deletes the lease file and ends the watchdog.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import tempfile
import time
from typing import Any, Callable, Iterator

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import (
    DEFAULT_LEASE_SECONDS,
    LAPSED,
    SKEW_MARGIN_SECONDS,
    is_live,
    lapse,
)

RENEW_SHARE = 1.0 / 3.0  # renew when less than this share of the lease is left
# The longest a watchdog lives, whatever happens (a job that takes longer is renewed by its modules anyway).
WATCHDOG_MAX_SECONDS = 12 * 3600
WATCHDOG_POLL_SECONDS = 0.5
GIVE_UP_TRIES = 4

ReadRecord = Callable[[str], "dict[str, Any] | None"]
WriteRecord = Callable[[str, "dict[str, Any] | None"], None]


class CancelledRun(BaseException):
    """The run was cancelled by a signal (SIGINT, SIGTERM). A BaseException, so that no `except Exception` of the
    code it interrupts swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__("cancelled by %s" % signal.Signals(signum).name)
        self.signum = signum


class LeaseLost(Exception):
    """Another run took over a record this run held (its lease had lapsed, or it was taken over on purpose)."""


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into CancelledRun inside the block; a second signal during the clean-up is ignored."""
    def cancel(signum: int, _frame: Any) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise CancelledRun(signum)

    previous = {sig: signal.signal(sig, cancel) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def renewal_due(record: dict[str, Any], now: float, lease: int) -> bool:
    return record["expires"] != LAPSED and record["expires"] - now < lease * RENEW_SHARE


class Lease:
    """The power records this run holds, by instance id: renewed when due, given up on a cancel.

    `read` and `write` are the module's own (DescribeResourceTags, ModifyResourceTags through write(), so that check
    mode and `changed` behave as everywhere). A run holds a record it wrote, or one of its owner it found."""

    def __init__(self, owner: str, lease: int, clock: Any, read: ReadRecord | None, write: WriteRecord) -> None:
        """Without `read`, a renewal rewrites the record as this run holds it, unread (the fleet: it wrote each
        record itself, and reading hundreds before each renewal would double its calls)."""
        self.owner, self.lease, self.clock = owner, lease, clock
        self._read, self._write = read, write
        self.records: dict[str, dict[str, Any]] = {}
        self.renewals = 0

    def hold(self, instance_id: str, record: dict[str, Any]) -> None:
        """Hold a record this run has just written (or found to be its owner's)."""
        self.records[instance_id] = record

    def claim_own(self, instance_ids: list[str]) -> list[str]:
        """Hold the records of these instances that belong to this run's owner; returns the instances held."""
        for instance_id in instance_ids:
            record = self._read(instance_id) if self._read else None
            if record is not None and record["owner"] == self.owner and record["expires"] != LAPSED:
                self.records[instance_id] = record
        return sorted(self.records)

    def release(self, instance_id: str) -> None:
        """Stop holding a record (it was removed, or given up)."""
        self.records.pop(instance_id, None)

    def due(self) -> list[str]:
        now = self.clock.time()
        return [instance_id for instance_id, record in self.records.items() if renewal_due(record, now, self.lease)]

    def renewed(self, record: dict[str, Any]) -> dict[str, Any]:
        return dict(record, expires=int(self.clock.time()) + self.lease)

    def renew(self, instance_id: str) -> None:
        """Renew one record: the record read back must still be this owner's (else LeaseLost)."""
        current = self._read(instance_id) if self._read else self.records.get(instance_id)
        if current is None or current["owner"] != self.owner:
            self.release(instance_id)
            holder = "removed" if current is None else "taken over by job %s" % current["owner"]
            raise LeaseLost("the power record of instance %s was %s while this run held it" % (instance_id, holder))
        record = self.renewed(current)
        self._write(instance_id, record)
        self.records[instance_id] = record
        self.renewals += 1

    def renew_due(self) -> None:
        for instance_id in self.due():
            self.renew(instance_id)

    def lapse_all(self, write: WriteRecord | None = None) -> list[str]:
        """Give up every record held (their power stays), with `write` when given (a cancel's quick client); returns
        the instances whose record was given up."""
        given_up = []
        for instance_id, record in sorted(self.records.items()):
            try:
                (write or self._write)(instance_id, lapse(record))
            except Exception:  # pylint: disable=broad-except
                continue  # a cancel must end: the lease then lapses by itself
            given_up.append(instance_id)
        self.records.clear()
        return given_up


def lock_timeout(lease: int) -> int:
    """How long a run waits for a live holder by default: a holder that stopped renewing has lapsed by then."""
    return lease + SKEW_MARGIN_SECONDS


# -- holder files and the watchdog (on the machine the modules run on) --------------------------------------------------


def lease_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), "zenlayer-cloud-leases-%d" % os.getuid())
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _stem(owner: str, instance_id: str) -> str:
    return os.path.join(lease_dir(), "%s--%s" % (owner, instance_id.replace(os.sep, "_")))


def lease_file(owner: str, instance_id: str) -> str:
    return _stem(owner, instance_id) + ".lease"


@contextlib.contextmanager
def holding(owner: str, instance_ids: list[str]) -> Iterator[None]:
    """Say, while the block runs, that this process works under the lease of these instances (for the watchdog)."""
    paths = ["%s.holder-%d" % (_stem(owner, instance_id), os.getpid()) for instance_id in instance_ids]
    for path in paths:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
    try:
        yield
    finally:
        for path in paths:
            with contextlib.suppress(OSError):
                os.remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holders_alive(owner: str, instance_id: str) -> bool:
    for path in glob.glob(glob.escape(_stem(owner, instance_id)) + ".holder-*"):
        pid = int(path.rsplit("-", 1)[1])
        if pid != os.getpid() and _alive(pid):
            return True
        with contextlib.suppress(OSError):
            os.remove(path)
    return False


def end_watch(owner: str, instance_id: str) -> None:
    """The record is removed or given up by the job itself: its watchdog ends (and what it kept beside its lease file:
    the records a fleet run in slices holds, see _fleet_watch.py)."""
    for path in (lease_file(owner, instance_id), lease_file(owner, instance_id) + ".records"):
        with contextlib.suppress(OSError):
            os.remove(path)


def watch(owner: str, instance_id: str, controller_pid: int, give_up: Callable[[], None],
          monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """The watchdog's loop: until the lease file is gone (the job removed the record), or the controller is gone and
    no module of the job works on the instance any more - then give_up() (lapse the record) and end. Returns why it
    ended."""
    path = lease_file(owner, instance_id)
    ends = monotonic() + WATCHDOG_MAX_SECONDS
    while monotonic() < ends:
        if not os.path.exists(path):
            return "released"
        if not _alive(controller_pid) and not _holders_alive(owner, instance_id):
            try:
                return _try_to_give_up(give_up, sleep)
            finally:
                end_watch(owner, instance_id)
        sleep(WATCHDOG_POLL_SECONDS)
    return "timed out"


def _try_to_give_up(give_up: Callable[[], None], sleep: Callable[[float], None]) -> str:
    """A few tries (the API may be briefly unreachable); after that the lease lapses by itself."""
    for attempt in range(GIVE_UP_TRIES):
        try:
            give_up()
            return "given up"
        except Exception:  # pylint: disable=broad-except
            sleep(2.0 ** attempt)
    return "could not give up"


def _watchdog_running(owner: str, instance_id: str) -> bool:
    try:
        with open(lease_file(owner, instance_id), encoding="utf-8") as handle:
            return _alive(int(json.load(handle).get("watchdog_pid") or 0) or -1)
    except (OSError, ValueError):
        return False


def _write_lease_file(owner: str, instance_id: str, controller_pid: int, watchdog_pid: int = 0) -> None:
    with open(lease_file(owner, instance_id), "w", encoding="utf-8") as handle:
        json.dump({"owner": owner, "instance_id": instance_id, "controller_pid": controller_pid,
                   "watchdog_pid": watchdog_pid}, handle)


def start_watchdog(owner: str, instance_id: str, controller_pid: int, give_up: Callable[[], None]) -> int | None:
    """Fork a watchdog, detached from the task (its own session, no stdio), and return its pid; None when one watches
    this lease already. Everything it runs must be imported already: the module's files may be removed."""
    if _watchdog_running(owner, instance_id):
        return None
    _write_lease_file(owner, instance_id, controller_pid)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            watchdog_pid = int(pipe.read().decode() or "0")
        os.waitpid(pid, 0)
        _write_lease_file(owner, instance_id, controller_pid, watchdog_pid)
        return watchdog_pid or None
    os.close(read_end)
    try:  # the first child: a session of its own, then the watchdog itself in a second fork
        os.setsid()
        watchdog_pid = os.fork()
        if watchdog_pid:
            os.write(write_end, str(watchdog_pid).encode())
            os._exit(0)
        os.close(write_end)
        _detach_stdio()
        watch(owner, instance_id, controller_pid, give_up)
    finally:
        os._exit(0)  # pylint: disable=protected-access


def _detach_stdio() -> None:
    """The task's output pipe must close when the module exits: the watchdog keeps none of the module's fds."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 256)


__all__ = ["CancelledRun", "DEFAULT_LEASE_SECONDS", "Lease", "LeaseLost", "cancel_on_signals", "holding", "is_live",
           "lock_timeout", "start_watchdog", "end_watch", "watch"]
