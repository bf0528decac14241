# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Waiting: poll schedules, the clock every wait and retry reads, and poll_until."""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class Clock:
    """Monotonic time, sleep and the time of day in UTC. Tests put another one in SYSTEM_CLOCK's place (see
    _base.AnsibleZenlayer.clock)."""

    def utcnow(self) -> datetime:
        """The time of day, in UTC, of the host the module runs on (the controller, in a play on localhost)."""
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        """Wall-clock (unix) seconds, for times kept outside this process."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()

# Set by the emulator's test harness (tests/emulator) to "<epoch>:<scale>": modules talking to an emulator on this
# machine then run on its scaled time. Never honoured for any other endpoint.
EMULATOR_CLOCK_ENV = "ZENLAYERCLOUD_EMULATOR_CLOCK"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ScaledClock(Clock):
    """The emulator's time: from `epoch` on, one real second counts as 1 / scale seconds (0 < scale <= 1), for
    time(), monotonic() and utcnow(); sleep(s) sleeps s * scale real seconds."""

    def __init__(self, epoch: float, scale: float) -> None:
        self.epoch, self.scale = epoch, scale
        self.started = time.monotonic()

    def time(self) -> float:
        return self.epoch + (time.time() - self.epoch) / self.scale

    def monotonic(self) -> float:
        return self.started + (time.monotonic() - self.started) / self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) * self.scale)

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.time(), timezone.utc)


def _host_of(domain: str) -> str:
    """The host of a domain option: 'h', 'h:port', '[v6]', '[v6]:port' or a bare IPv6 address."""
    domain = domain.strip().lower()
    if domain.startswith("["):
        return domain[1:].split("]", 1)[0]
    if domain.count(":") > 1:
        return domain
    return domain.split(":", 1)[0]


def _parse_emulator_clock(value: str) -> ScaledClock | None:
    """'<epoch>:<scale>' (finite floats, 0 < scale <= 1) as a ScaledClock, else None."""
    parts = value.split(":")
    if len(parts) != 2:
        return None
    try:
        epoch, scale = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(epoch) and math.isfinite(scale) and 0.0 < scale <= 1.0):
        return None
    return ScaledClock(epoch, scale)


def clock_for_endpoint(domain: str) -> Clock:
    """The clock of a module talking to `domain`: the emulator's scaled clock when EMULATOR_CLOCK_ENV holds a valid
    value and the domain is a loopback address, else SYSTEM_CLOCK (read now, so tests can replace it)."""
    value = os.environ.get(EMULATOR_CLOCK_ENV)
    if value and isinstance(domain, str) and _host_of(domain) in LOOPBACK_HOSTS:
        clock = _parse_emulator_clock(value)
        if clock is not None:
            return clock
    return SYSTEM_CLOCK


class PollSchedule:
    """Waits between status polls: a first wait growing geometrically up to a cap."""

    def __init__(self, first: float, factor: float, cap: float) -> None:
        self.first, self.factor, self.cap = first, factor, cap

    def intervals(self, start: int = 0) -> Iterator[float]:
        """The waits from the `start`-th on (a wait resumed after `start` pauses goes on where it was)."""
        interval = self.first
        index = 0
        while True:
            if index >= start:
                yield interval
            index += 1
            interval = min(self.cap, interval * self.factor)


# How a wait for an image polls: one early look (short images), then every 15 s. Measured in docs/benchmarks.md:
# with fewer status calls than a fixed 15 s poller a wait cannot also beat a 10 s poller's latency, so calls come first.
IMAGE_WAIT = PollSchedule(first=2.0, factor=7.0, cap=15.0)
# How a wait for instance power states polls: instances stop and boot in seconds to a minute.
POWER_WAIT = PollSchedule(first=1.0, factor=1.5, cap=10.0)
# How often an accepted write whose answer was lost is looked for before it is declared not done.
LOST_ANSWER_LOOKS = PollSchedule(first=1.0, factor=2.0, cap=4.0)


class Polls:
    """Where one wait stands, kept across the runs of a module that returns in slices (see _progress.py): the polls
    and pauses made, the seconds waited, and the pause before the next poll (set before `between` runs).

    A wait resumed from it goes on with the schedule where it was, its first pause shortened by `first_pause` (the
    time the module was away between two slices is taken out of the pause it interrupted)."""

    def __init__(self, made: int = 0, pauses: int = 0, waited: float = 0.0, first_pause: float | None = None) -> None:
        self.made, self.pauses, self.waited = made, pauses, waited
        self.first_pause = first_pause
        self.next_pause = 0.0
        self.measured_at: float | None = None  # the clock's monotonic() when `waited` was last brought up to date


class WaitTimeout(Exception):
    """The wait ran out; `last` is the last value fetched (None when nothing was fetched)."""

    def __init__(self, last: object, waited: float, polls: int) -> None:
        super().__init__("timed out after %.0f s" % waited)
        self.last, self.waited, self.polls = last, waited, polls


def poll_until(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, *, schedule: PollSchedule,
               clock: Clock, fetch_first: bool = True, between: Callable[[], None] | None = None,
               polls: Polls | None = None) -> T:
    """Fetch until done(value) holds and return that value; raise WaitTimeout with the last value seen.

    `done` may raise to stop the wait at once (a terminal state). fetch_first=False skips the look at once, for a
    caller that has just seen the value not done (it saves one call per wait). `between` runs before each pause
    (the module's work that is due while it waits: lease renewals, the end of a slice). `polls` is where the wait
    stands (updated as it goes): given one from an earlier slice, the wait goes on where that one stopped."""
    polls = polls if polls is not None else Polls()
    started, waited_before = clock.monotonic(), polls.waited
    fetched = fetch_first
    value = fetch() if fetch_first else None
    polls.made += 1 if fetch_first else 0
    for interval in schedule.intervals(polls.pauses):
        if fetched and done(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        polls.measured_at = clock.monotonic()
        polls.waited = waited_before + polls.measured_at - started
        remaining = timeout - (clock.monotonic() - started)
        if remaining <= 0 and polls.first_pause is not None and not fetched:
            # resumed past the deadline: the look the interrupted pause was before is still made, as in one piece
            polls.first_pause, remaining = None, 0.0
        elif remaining <= 0:
            raise WaitTimeout(value, polls.waited, polls.made)
        if polls.first_pause is not None:
            interval, polls.first_pause = polls.first_pause, None
        polls.next_pause = max(0.0, min(interval, remaining))
        if between is not None:
            between()
        clock.sleep(polls.next_pause)
        value, fetched = fetch(), True
        polls.made += 1
        polls.pauses += 1
    raise AssertionError("unreachable: intervals() never ends")
